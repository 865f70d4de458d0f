"""Scores are finite or flagged; inputs the model gives no weight are optional."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from hdtweedie.scoring import ScoringInputWarning, content_hash, load_model

FIXTURE = Path(__file__).parent / "fixtures" / "model_schema_1_0.json"
RECORD = {"area": "C", "district": "01", "ncd": 2, "age": 40.0}


def _model_with(tmp_path, edit):
    doc = json.loads(FIXTURE.read_text())
    edit(doc)
    doc["sha256"] = content_hash(doc)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    return load_model(path)


def _drop_district(doc):
    for f in doc["features"]:
        if f.startswith("district="):
            doc["coefficients"][f] = 0.0


@pytest.fixture()
def model():
    return load_model(FIXTURE)


def test_infinite_inputs_are_flagged_not_scored(model):
    records = [RECORD, dict(RECORD, age=np.inf), RECORD, dict(RECORD, age=-np.inf)]
    pred = model.predict(records, errors="flag", warn=False)
    assert np.isfinite(pred.values[[0, 2]]).all() and np.isnan(pred.values[[1, 3]]).all()
    assert pred.flagged.tolist() == [False, True, False, True]
    (issue,) = pred.warnings
    assert issue.kind == "invalid_value" and issue.rows.tolist() == [1, 3] and not issue.scored
    message = "age: 2 rows with an infinite value \\(at rows 1, 3; first value inf\\)"
    with pytest.raises(ValueError, match=message):
        model.predict(records)


def test_infinite_design_entries_are_flagged_even_where_the_coefficient_is_zero(tmp_path):
    model = _model_with(tmp_path, _drop_district)
    X = np.zeros((3, len(model.feature_names)))
    X[:, model.feature_names.index("age")] = 40.0
    zero = model.feature_names.index(next(f for f in model.feature_names if f.startswith("district=")))
    X[1, zero] = np.inf  # inf * 0 would be NaN
    pred = model.predict(X, errors="flag", warn=False)
    assert np.isfinite(pred.values[[0, 2]]).all() and np.isnan(pred.values[1])
    assert pred.flagged.tolist() == [False, True, False]
    with pytest.raises(ValueError, match="1 row with a NaN or infinite entry in the design matrix \\(at"):
        model.predict(X)


def test_overflowing_exposures_are_flagged(tmp_path):
    model = _model_with(tmp_path, lambda doc: doc.update(intercept=5.0))
    pred = model.predict([RECORD, RECORD], exposure=[1e308, 1.0], errors="flag", warn=False)
    assert np.isnan(pred.values[0]) and np.isfinite(pred.values[1])
    assert [(i.kind, i.rows.tolist()) for i in pred.warnings] == [("overflow", [0])]
    assert pred.flagged.tolist() == [True, False]
    with pytest.raises(ValueError, match="prediction: 1 row with a prediction beyond the range of a double"):
        model.predict([RECORD, RECORD], exposure=[1e308, 1.0])
    with pytest.raises(ValueError, match="beyond the range of a double"):
        model.explain(RECORD, exposure=1e308)


def test_boolean_exposures_are_refused(model):
    for bad in (True, np.bool_(False), [True, False], np.array([True, True])):
        with pytest.raises(TypeError, match="exposure must be"):
            model.predict([RECORD, RECORD], exposure=bad)


def test_two_different_unseen_levels_are_a_change(model):
    c = model.compare(dict(RECORD, area="Q"), dict(RECORD, area="R"), unknown="base")
    assert c.changed_inputs == [{"input": "area", "a": "Q", "b": "R"}]
    assert c.input_attribution == [{"input": "area", "link": 0.0, "relativity": 1.0}]
    assert c.ratio == 1.0 and "area 'Q' -> 'R'" in c.summary
    same = model.compare(dict(RECORD, area="Q"), dict(RECORD, area="Q"), unknown="base")
    assert same.changed_inputs == []


def test_inputs_without_weight_may_be_left_out(tmp_path):
    model = _model_with(tmp_path, _drop_district)
    assert model.required_inputs == ("area", "ncd", "age") and "district" in model.input_names
    without = {k: v for k, v in RECORD.items() if k != "district"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = float(model.predict(RECORD))
        assert float(model.predict(without)) == expected
        pred = model.predict([dict(RECORD, district="never seen"), dict(RECORD, district=None)])
        assert pred.values.tolist() == [expected, expected] and not pred.warnings
        x = model.explain(without)
    assert x.relativities["district"] == 1.0 and x.contributions[1]["level"] == "2"  # the base level
    assert x.prediction == expected
    with pytest.raises(ValueError, match="records lack the input\\(s\\) \\['ncd'\\]"):
        model.predict({k: v for k, v in without.items() if k != "ncd"})


def test_a_missing_input_with_weight_is_still_an_error(model):
    with pytest.raises(ValueError, match="records lack the input\\(s\\) \\['district'\\]"):
        model.predict({k: v for k, v in RECORD.items() if k != "district"})
    with pytest.warns(ScoringInputWarning, match="district: 1 row with a level not seen"):
        model.predict(dict(RECORD, district="9"), unknown="base")
