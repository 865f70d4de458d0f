"""Exported model files: content, exactness, hash, schema, and refusal of bad exports."""

import copy
import datetime
import hashlib
import json
import re
from importlib import resources

import jsonschema
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from hdtweedie import FactorEncoder, HDTweedie
from hdtweedie._export import build_document, export_model
from hdtweedie.scoring import ModelFileError, canonical_json, content_hash, model_schema, validate_document


def _portfolio(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "area": rng.choice(list("ABCD"), n, p=[0.2, 0.4, 0.3, 0.1]),
        "ncd": rng.integers(0, 5, n),
        "age": rng.uniform(17, 85, n),
    })
    exposure = rng.uniform(0.1, 1.0, n)
    eta = -1.0 + df["area"].map({"A": 0.0, "B": 0.2, "C": 0.5, "D": -0.3}) - 0.1 * df["ncd"]
    y = rng.poisson(exposure * np.exp(eta)) * rng.gamma(2.0, 0.5, n)
    return df, exposure, np.asarray(y, dtype=float)


@pytest.fixture(scope="module")
def encoded_fit():
    df, exposure, y = _portfolio()
    enc = FactorEncoder(factors=["area", "ncd"])
    X = enc.fit_transform(df, sample_weight=exposure)
    model = HDTweedie(power=1.4, groups=enc.groups_, n_lambdas=25).fit(X, y, offset=np.log(exposure))
    return model, enc, X


@pytest.fixture(scope="module")
def dense_fit():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 6))
    y = rng.gamma(1.0, np.exp(0.4 * X[:, 0] - 0.3 * X[:, 2])) * (rng.random(400) < 0.7)
    return HDTweedie(power=1.6, n_lambdas=20).fit(X, y), X


def _schema_validator():
    schema = json.loads(
        resources.files("hdtweedie").joinpath("schema", "model.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_file_content_and_schema(tmp_path, encoded_fit):
    model, enc, _ = encoded_fit
    path = tmp_path / "motor.json"
    doc = model.export(path, model_id="motor-pp", version="2024.1", encoder=enc)
    on_disk = json.loads(path.read_text())
    assert on_disk == doc
    _schema_validator().validate(on_disk)
    assert isinstance(on_disk["intercept"], float)
    assert on_disk["format"] == "hdtweedie-model" and on_disk["schema_version"] == "1.1"
    assert (on_disk["model_id"], on_disk["version"]) == ("motor-pp", "2024.1")
    assert on_disk["package"] == {"name": "hdtweedie", "version": "0.1.0"}
    assert on_disk["power"] == 1.4 and on_disk["alpha"] == 1.0
    assert on_disk["estimator"] == "HDTweedie" and on_disk["relaxed"] is False
    assert "signature" not in on_disk
    assert on_disk["lambda"] == model.lambdas_[-1] and on_disk["lambda_rule"] == "last"
    stamp = datetime.datetime.strptime(on_disk["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs((datetime.datetime.utcnow() - stamp).total_seconds()) < 600
    assert on_disk["features"] == list(enc.get_feature_names_out())
    factors = {i["name"]: i for i in on_disk["inputs"] if i["kind"] == "factor"}
    assert factors["area"]["base_level"] == enc.base_levels_["area"]
    assert factors["area"]["levels"] == ["A", "B", "C", "D"]
    assert factors["ncd"]["levels"] == ["0", "1", "2", "3", "4"]
    assert factors["area"]["handle_unknown"] == "error"
    (age,) = [i for i in on_disk["inputs"] if i["kind"] == "numeric"]
    assert (age["min"], age["max"]) == enc.numeric_ranges_["age"]


def test_coefficients_round_trip_bit_for_bit(tmp_path, encoded_fit):
    model, enc, _ = encoded_fit
    # a coefficient needing all 17 significant digits survives the text form
    path = tmp_path / "m.json"
    model.export(path, encoder=enc)
    doc = json.loads(path.read_text())
    coef = np.array([doc["coefficients"][f] for f in doc["features"]])
    assert np.array_equal(coef, model.coef_)
    assert doc["intercept"] == model.intercept_
    assert float(repr(0.1 + 0.2)) == 0.1 + 0.2  # the property the format relies on


def test_hash_is_sha256_of_canonical_content(tmp_path, dense_fit):
    model, X = dense_fit
    path = tmp_path / "dense.json"
    with pytest.warns(UserWarning, match="training ranges"):
        model.export(path)
    doc = json.loads(path.read_text())
    body = {k: v for k, v in doc.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert canonical_json(doc) == canonical
    assert doc["sha256"] == hashlib.sha256(canonical.encode()).hexdigest() == content_hash(doc)
    # the hash covers every field: any edit changes it
    edited = dict(doc, version="2")
    assert content_hash(edited) != doc["sha256"]


def test_lambda_selection(tmp_path, dense_fit):
    model, X = dense_fit
    mid = float(np.sqrt(model.lambdas_[3] * model.lambdas_[4]))  # between grid points
    doc = build_document(model, s=mid, X=X)
    b0, b = model.coef_at(mid)
    assert doc["lambda"] == mid and doc["lambda_rule"] == "given"
    assert doc["intercept"] == b0[0]
    assert [doc["coefficients"][f"x{j}"] for j in range(6)] == list(b[:, 0])
    with pytest.raises(ValueError, match="s must be a finite lambda >= 0, got -1"):
        build_document(model, s=-1, X=X)
    with pytest.raises(ValueError, match="s must be None, a number; got 'lambda_min'"):
        build_document(model, s="lambda_min", X=X)
    with pytest.raises(TypeError, match="s must be None or a number"):
        build_document(model, s=[1, 2], X=X)


def test_dense_ranges_from_X_or_a_warning(tmp_path, dense_fit):
    model, X = dense_fit
    doc = build_document(model, X=X)
    assert [i["name"] for i in doc["inputs"]] == [f"x{j}" for j in range(6)]
    assert [i["min"] for i in doc["inputs"]] == list(X.min(axis=0))
    assert [i["max"] for i in doc["inputs"]] == list(X.max(axis=0))
    with pytest.warns(UserWarning, match="training ranges of the numeric inputs are unknown"):
        doc = build_document(model)
    assert all(i["min"] is None and i["max"] is None for i in doc["inputs"])
    _schema_validator().validate(doc)
    with pytest.raises(ValueError, match="X has 2 columns, the model has 6 features"):
        build_document(model, X=X[:, :2])


def test_dataframe_feature_names_are_used(tmp_path):
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["speed", "mass", "power"])
    y = rng.gamma(1.0, 1.0, 200)
    model = HDTweedie(n_lambdas=8).fit(X, y)
    doc = build_document(model, X=X)
    assert doc["features"] == ["speed", "mass", "power"]


def test_pipeline_export_uses_its_encoder(tmp_path, encoded_fit):
    df, exposure, y = _portfolio(600, seed=4)
    pipe = make_pipeline(FactorEncoder(), HDTweedie(n_lambdas=10)).fit(df, y)
    doc = export_model(pipe, tmp_path / "pipe.json")
    assert doc["model_id"] == "pipe" and doc["version"] == "1"
    assert {i["name"] for i in doc["inputs"]} == {"area", "ncd", "age"}


def test_bad_exports_are_refused(tmp_path, encoded_fit, dense_fit):
    model, enc, _ = encoded_fit
    with pytest.raises(NotFittedError):
        export_model(HDTweedie(), tmp_path / "x.json")
    with pytest.raises(ValueError, match="model_id must be a non-empty string"):
        export_model(model, tmp_path / "x.json", model_id="  ", encoder=enc)
    with pytest.raises(ValueError, match="version must be a non-empty string"):
        export_model(model, tmp_path / "x.json", version=3, encoder=enc)
    other = FactorEncoder(factors=["area"]).fit(_portfolio()[0])
    with pytest.raises(ValueError, match="coefficients but"):
        export_model(model, tmp_path / "x.json", encoder=other)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_model(model, tmp_path / "missing" / "x.json", encoder=enc)
    dense, X = dense_fit
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(6)])
    named = HDTweedie(n_lambdas=5).fit(df, dense.predict(X))
    renamed = FactorEncoder().fit(df.set_axis([f"d{j}" for j in range(6)], axis=1))
    with pytest.raises(ValueError, match="output columns differ"):
        export_model(named, tmp_path / "x.json", encoder=renamed)
    assert not (tmp_path / "x.json").exists()


def test_export_never_writes_non_finite_numbers(tmp_path, dense_fit):
    model, X = dense_fit
    broken = copy.copy(model)
    broken.coef_ = model.coef_.copy()
    broken.coef_[0] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        build_document(broken, X=X)


# -- the scorer's built-in schema check agrees with the jsonschema package ---------------------

_MUTATIONS = [
    ("drop", "power"), ("drop", "sha256"), ("set", "power", 2.5), ("set", "power", "1.5"),
    ("set", "power", True), ("set", "link", "identity"), ("set", "lambda", -1.0),
    ("set", "alpha", 0.0), ("set", "schema_version", "1.x"), ("set", "created_at", "yesterday"),
    ("set", "features", ["a", "a"]), ("set", "coefficients", {"a": "0.1"}), ("set", "extra", 1),
    ("set", "package", {"name": "other", "version": "1"}), ("set", "lambda_rule", "best"),
    ("input", "kind", "ordinal"), ("input", "levels", []), ("input", "handle_unknown", "drop"),
    ("input", "features", {"B": 3}), ("input", "extra", 0), ("input_drop", "base_level"),
    ("numeric", "min", "low"), ("numeric", "max", None), ("numeric_drop", "feature"),
    ("set", "intercept", None), ("set", "model_id", ""), ("set", "sha256", "ABC"),
]


def _mutate(doc, mutation):
    doc = copy.deepcopy(doc)
    op = mutation[0]
    factor = next(i for i in doc["inputs"] if i["kind"] == "factor")
    numeric = next(i for i in doc["inputs"] if i["kind"] == "numeric")
    if op == "drop":
        del doc[mutation[1]]
    elif op == "set":
        doc[mutation[1]] = mutation[2]
    elif op == "input":
        factor[mutation[1]] = mutation[2]
    elif op == "input_drop":
        del factor[mutation[1]]
    elif op == "numeric":
        numeric[mutation[1]] = mutation[2]
    elif op == "numeric_drop":
        del numeric[mutation[1]]
    return doc


def _builtin_schema_errors(doc):
    from hdtweedie.scoring._schema import schema_errors as _schema_errors

    schema = model_schema()
    return list(_schema_errors(doc, schema, schema, "$"))


@pytest.mark.parametrize("mutation", _MUTATIONS, ids=lambda m: "-".join(map(str, m))[:40])
def test_builtin_schema_check_agrees_with_jsonschema(encoded_fit, mutation):
    model, enc, _ = encoded_fit
    doc = build_document(model, encoder=enc)
    bad = _mutate(doc, mutation)
    jsonschema_ok = _schema_validator().is_valid(bad)
    builtin_ok = not _builtin_schema_errors(bad)
    assert builtin_ok == jsonschema_ok
    # every mutation breaks the schema except a numeric input without a known maximum
    assert jsonschema_ok == (mutation == ("numeric", "max", None))
    if not builtin_ok:
        with pytest.raises(ModelFileError, match="does not match the schema"):
            validate_document(bad)


@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from(["power", "lambda", "alpha", "intercept", "model_id", "version", "features",
                         "link", "estimator", "schema_version", "lambda_rule"]),
    value=st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-3, 3),
                    st.text(max_size=4), st.lists(st.text(max_size=2), max_size=2)),
)
def test_builtin_schema_check_agrees_on_random_values(encoded_fit, key, value):
    model, enc, _ = encoded_fit
    doc = build_document(model, encoder=enc)
    doc[key] = value
    assert (not _builtin_schema_errors(doc)) == _schema_validator().is_valid(doc)


def test_consistency_beyond_the_schema(encoded_fit):
    model, enc, _ = encoded_fit
    doc = build_document(model, encoder=enc)
    validate_document(doc)
    bad = copy.deepcopy(doc)
    del bad["coefficients"][bad["features"][0]]
    with pytest.raises(ModelFileError, match="coefficients do not match features"):
        validate_document(bad)
    bad = copy.deepcopy(doc)
    factor = next(i for i in bad["inputs"] if i["kind"] == "factor")
    factor["base_level"] = "Q"
    with pytest.raises(ModelFileError, match="base level 'Q' is not among its levels"):
        validate_document(bad)
    bad = copy.deepcopy(doc)
    numeric = next(i for i in bad["inputs"] if i["kind"] == "numeric")
    numeric["min"], numeric["max"] = 5.0, 1.0
    with pytest.raises(ModelFileError, match=re.escape("min 5.0 > max 1.0")):
        validate_document(bad)
    bad = copy.deepcopy(doc)
    bad["inputs"].append(copy.deepcopy(bad["inputs"][0]))
    with pytest.raises(ModelFileError, match="input names are not unique"):
        validate_document(bad)
