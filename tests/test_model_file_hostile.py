"""Hostile model files are refused with ModelFileError, quickly and without other exceptions."""

import json
import os
import time
from pathlib import Path

import pytest

from hdtweedie.scoring import DEFAULT_MAX_BYTES, ModelFileError, content_hash, load_model

FIXTURE = Path(__file__).parent / "fixtures" / "model_schema_1_0.json"


def _doc():
    return json.loads(FIXTURE.read_text())


def _write(path, doc):
    doc["sha256"] = content_hash(doc)
    path.write_text(json.dumps(doc))
    return path


def test_deep_nesting_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    doc = _doc()
    text = json.dumps(doc)
    for depth in (17, 900, 1000, 100_000):
        path.write_text(text[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}")
        with pytest.raises(ModelFileError, match="nests deeper than 16 levels, which no model file does"):
            load_model(path)
    path.write_text('{"a": ' * 50_000 + "1" + "}" * 50_000)
    with pytest.raises(ModelFileError, match="nests deeper than 16 levels"):
        load_model(path)
    # brackets inside strings are text, not nesting
    doc["model_id"] = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{{{"
    assert load_model(_write(tmp_path / "brackets.json", doc)).model_id == doc["model_id"]


def test_huge_integers_and_numbers_are_refused(tmp_path):
    text = FIXTURE.read_text()
    intercept = f'"intercept": {_doc()["intercept"]!r}'
    for literal, message in (("1" + "0" * 399, "an integer with 400 digits"),
                             ("-" + "9" * 30, "an integer with 30 digits"),
                             ("1e400", "holds a non-finite number \\(a literal beyond the range"),
                             ("-1e999", "holds a non-finite number")):
        path = tmp_path / "big.json"
        path.write_text(text.replace(intercept, f'"intercept": {literal}'))
        with pytest.raises(ModelFileError, match=message):
            load_model(path)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused_at_once(device):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist on this system")
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="is not a regular file \\(a character device\\)"):
        load_model(device)
    assert time.perf_counter() - start < 1.0


def test_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="is not a regular file \\(a FIFO\\)"):
        load_model(fifo)
    assert time.perf_counter() - start < 1.0


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="a directory|Is a directory"):
        load_model(tmp_path)


def test_large_files_are_refused_by_size_before_reading(tmp_path):
    assert DEFAULT_MAX_BYTES == 16 * 1024 * 1024
    path = tmp_path / "crafted.json"
    text = FIXTURE.read_text()
    path.write_text(text[:-2] + ', "padding": "' + "x" * 39_000_000 + '"}')  # a 39 MB file
    assert path.stat().st_size > 39_000_000
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=r"bytes, over the limit of 16777216 \(pass a larger max_bytes"):
        load_model(path)
    assert time.perf_counter() - start < 0.5
    small = FIXTURE.stat().st_size
    with pytest.raises(ModelFileError, match=f"has {small} bytes, over the limit of 100"):
        load_model(FIXTURE, max_bytes=100)
    assert load_model(FIXTURE, max_bytes=small).model_id == "motor-old"
    for bad, exc in ((0, ValueError), (-5, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(exc, match="max_bytes must be"):
            load_model(FIXTURE, max_bytes=bad)


def test_a_large_file_within_a_raised_limit_is_rejected_in_reasonable_time(tmp_path):
    doc = _doc()
    doc["coefficients"].update({f"f{i:07d}": 0.0 for i in range(100_000)})
    path = _write(tmp_path / "crafted.json", doc)
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="coefficients do not match features"):
        load_model(path)
    assert time.perf_counter() - start < 5


def test_non_finite_coefficients_are_refused(tmp_path):
    doc = _doc()
    text = json.dumps(doc)
    feature = doc["features"][0]
    for literal in ("NaN", "Infinity", "-Infinity"):
        path = tmp_path / "nan.json"
        old = f'"{feature}": {doc["coefficients"][feature]!r}'
        path.write_text(text.replace(old, f'"{feature}": {literal}'))
        with pytest.raises(ModelFileError, match=f"non-standard JSON number {literal}"):
            load_model(path)


def test_scores_that_would_overflow_are_refused_at_load(tmp_path):
    doc = _doc()
    doc["intercept"] = 800.0
    with pytest.raises(ModelFileError, match="linear predictor reaches 8\\d\\d.* beyond 700 where exp"):
        load_model(_write(tmp_path / "intercept.json", doc))
    doc = _doc()
    age = next(i for i in doc["inputs"] if i["name"] == "age")
    doc["coefficients"]["age"] = 750.0 / age["max"]  # exp overflows at the oldest training age
    with pytest.raises(ModelFileError, match="linear predictor reaches"):
        load_model(_write(tmp_path / "age.json", doc))
    doc["coefficients"]["age"] = -750.0 / age["max"]  # large but negative: scores underflow, never inf
    load_model(_write(tmp_path / "age_negative.json", doc))
    doc = _doc()
    feature = next(f for f in doc["features"] if f.startswith("area="))
    doc["coefficients"][feature] = 720.0
    with pytest.raises(ModelFileError, match="linear predictor reaches"):
        load_model(_write(tmp_path / "level.json", doc))


def test_unknown_ranges_overflow_is_flagged_at_score_time(tmp_path):
    doc = _doc()
    age = next(i for i in doc["inputs"] if i["name"] == "age")
    age["min"] = age["max"] = None
    doc["coefficients"]["age"] = 20.0
    model = load_model(_write(tmp_path / "open.json", doc))
    record = {"area": "A", "district": "1", "ncd": 1, "age": 50.0}
    pred = model.predict([record, dict(record, age=1.0)], errors="flag", warn=False)
    assert pred.flagged.tolist() == [True, False]
    assert [i.kind for i in pred.warnings] == ["overflow"]
    assert pred.warnings[0].rows.tolist() == [0]
    assert pred[1] == pytest.approx(float(model.predict(dict(record, age=1.0))))
    with pytest.raises(ValueError, match="prediction: 1 row with a prediction beyond the range of a double "
                                         "\\(exposure \\* exp\\(link\\) overflows\\) \\(at row 0\\)"):
        model.predict([record, dict(record, age=1.0)])
