"""Optional fields of schema 1.1: relaxed coefficients and the training-data summary."""

import json
from pathlib import Path

import numpy as np
import pytest

from hdtweedie import HDTweedie, HDTweedieCV
from hdtweedie._export import export_model
from hdtweedie.scoring import ModelFileError, content_hash, load_model

FIXTURE = Path(__file__).parent / "fixtures" / "model_schema_1_0.json"
SUMMARY = {"n_rows": 200, "weight_sum": 200.0, "exposure_sum": 131.5, "fingerprint": "sha256:0123abcd"}


def _data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 4))
    y = rng.poisson(np.exp(0.2 + 0.5 * X[:, 0] - 0.3 * X[:, 1])) * 1.0
    return X, y


@pytest.fixture(scope="module")
def path_fit():
    X, y = _data()
    return HDTweedie(power=1.5, n_lambdas=10).fit(X, y), X


def test_a_path_model_is_not_relaxed(tmp_path, path_fit):
    est, X = path_fit
    doc = export_model(est, tmp_path / "m.json", X=X)
    assert doc["relaxed"] is False and load_model(tmp_path / "m.json").relaxed is False


def test_a_relaxed_cv_model_says_so(tmp_path):
    X, y = _data()
    cv = HDTweedieCV(power=1.5, n_lambdas=10, n_folds=3, relax=True, random_state=0).fit(X, y)
    doc = export_model(cv, tmp_path / "relaxed.json", X=X)
    model = load_model(tmp_path / "relaxed.json")
    assert doc["relaxed"] is True and model.relaxed is True
    np.testing.assert_allclose(model.predict(X), cv.predict(X), rtol=1e-12)
    # an explicit lambda reads the penalised path, not the refit
    assert export_model(cv, tmp_path / "path.json", s="lambda_min", X=X)["relaxed"] is False
    plain = HDTweedieCV(power=1.5, n_lambdas=10, n_folds=3, random_state=0).fit(X, y)
    assert export_model(plain, tmp_path / "plain.json", X=X)["relaxed"] is False


def test_the_training_data_summary_is_recorded_when_the_estimator_has_one(tmp_path, path_fit):
    est, X = path_fit
    if hasattr(est, "training_data_"):
        del est.training_data_
    doc = export_model(est, tmp_path / "none.json", X=X)
    assert "training_data" not in doc and load_model(tmp_path / "none.json").training_data is None
    est.training_data_ = dict(SUMMARY, n_rows=np.int64(200), weight_sum=np.float64(200.0))
    try:
        doc = export_model(est, tmp_path / "with.json", X=X)
    finally:
        del est.training_data_
    assert doc["training_data"] == SUMMARY
    model = load_model(tmp_path / "with.json")
    assert dict(model.training_data) == SUMMARY
    with pytest.raises(TypeError):
        model.training_data["n_rows"] = 1


def test_a_partial_or_bad_summary(tmp_path, path_fit):
    est, X = path_fit
    est.training_data_ = {"n_rows": 200, "weight_sum": 200.0}
    try:
        doc = export_model(est, tmp_path / "partial.json", X=X)
        assert doc["training_data"] == {"n_rows": 200, "weight_sum": 200.0, "exposure_sum": None,
                                        "fingerprint": None}
        est.training_data_ = dict(SUMMARY, weight_sum=-1.0)
        with pytest.raises(ValueError, match="\\['weight_sum'\\] must be finite and >= 0, got -1.0"):
            export_model(est, tmp_path / "bad.json", X=X)
        est.training_data_ = [1, 2]
        with pytest.raises(TypeError, match="training_data_ must be a dict, got list"):
            export_model(est, tmp_path / "bad.json", X=X)
    finally:
        del est.training_data_
    assert not (tmp_path / "bad.json").exists()


def test_the_new_fields_are_checked_by_the_schema(tmp_path):
    doc = json.loads(FIXTURE.read_text())
    for key, value, message in (("relaxed", "yes", "\\$.relaxed: expected boolean"),
                                ("training_data", {"n_rows": -1}, "\\$.training_data.n_rows: -1 is below"),
                                ("training_data", {"rows": 1}, "unexpected key 'rows'"),
                                ("signature", {"algorithm": "md5", "value": "00"}, "\\$.signature")):
        edited = dict(doc, **{key: value})
        edited["sha256"] = content_hash(edited)
        path = tmp_path / "edited.json"
        path.write_text(json.dumps(edited))
        with pytest.raises(ModelFileError, match=message):
            load_model(path)
