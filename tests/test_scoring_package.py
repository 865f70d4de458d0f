"""The scorer package: its public names, its imports, and a model that cannot be changed."""

import copy
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hdtweedie.scoring as scoring
from hdtweedie.scoring import ScoringModel, load_model

FIXTURE = Path(__file__).parent / "fixtures" / "model_schema_1_0.json"
RECORD = {"area": "C", "district": "01", "ncd": 2, "age": 40.0}


@pytest.fixture()
def model():
    return load_model(FIXTURE)


def test_import_needs_no_sklearn_scipy_or_pandas():
    script = ("import sys, hdtweedie.scoring\n"
              "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy', 'pandas'))\n"
              "print(bad)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_public_names():
    assert sorted(scoring.__all__) == sorted(set(scoring.__all__))
    for name in scoring.__all__:
        assert getattr(scoring, name) is not None
    for name in ("load_model", "ScoringModel", "ModelFileError", "ScoringInputWarning", "Prediction",
                 "Explanation", "Comparison", "ScoringIssue", "sign_model_file", "level_key"):
        assert name in scoring.__all__
    assert not [n for n in scoring.__all__ if n.startswith("_")]


def test_modules_are_small():
    folder = Path(scoring.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in folder.glob("*.py")}
    assert max(sizes.values()) <= 600, sizes


def test_attributes_cannot_be_assigned_or_deleted(model):
    for name in ("intercept", "coefficients", "feature_names", "input_names", "model_id", "power",
                 "sha256", "document", "verified", "brand_new"):
        with pytest.raises(AttributeError):
            setattr(model, name, 1.0)
    with pytest.raises(AttributeError):
        del model.intercept
    assert not hasattr(model, "__dict__")


def test_mappings_sequences_and_arrays_are_read_only(model):
    feature = model.feature_names[0]
    with pytest.raises(TypeError):
        model.coefficients[feature] = 5.0
    with pytest.raises(AttributeError):
        model.feature_names.append("x")
    with pytest.raises(AttributeError):
        model.input_names.append("x")
    with pytest.raises(ValueError, match="read-only"):
        model.coef[0] = 5.0
    assert isinstance(model.feature_names, tuple) and model.feature_names == list(model.feature_names)
    # they still combine with lists as the lists they used to be
    assert model.input_names + ["extra"] == list(model.input_names) + ["extra"]
    assert ["first"] + model.input_names == ["first"] + list(model.input_names)
    np.testing.assert_array_equal(model.coef, [model.coefficients[f] for f in model.feature_names])


def test_editing_the_document_copy_changes_nothing(model):
    before = float(model.predict(RECORD))
    doc = model.document
    doc["intercept"] = 3.0
    doc["coefficients"][model.feature_names[0]] = 9.0
    assert model.document["intercept"] == model.intercept != 3.0
    assert float(model.predict(RECORD)) == before


def test_internal_terms_are_read_only(model):
    # the objects the scorer computes with are frozen too, not only the public view
    engine = object.__getattribute__(model, "_engine")
    with pytest.raises(AttributeError):
        engine.intercept = 5.0
    term = engine.terms[0]
    with pytest.raises(AttributeError):
        term.table = np.ones(3)
    with pytest.raises(ValueError, match="read-only"):
        term.table[0] = 1.0
    with pytest.raises(TypeError):
        term.index["new"] = 0


def test_pickle_and_copy_round_trip(model):
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model), copy.copy(model)):
        assert isinstance(clone, ScoringModel)
        assert clone.sha256 == model.sha256 and clone.coefficients == model.coefficients
        assert float(clone.predict(RECORD)) == float(model.predict(RECORD))


def test_old_format_file_scores_identically():
    expected = json.loads((FIXTURE.parent / "model_schema_1_0_scores.json").read_text())
    model = load_model(FIXTURE)
    assert model.document["schema_version"] == "1.0"
    assert model.relaxed is None and model.training_data is None and model.signature is None
    pred = model.predict(expected["records"], exposure=expected["exposure"])
    assert pred.values.tolist() == expected["prediction"]
    assert pred.link.tolist() == expected["link"]


def test_numeric_looking_levels_stay_text(model):
    # "01" and "1" are two levels of district in the file
    assert "01" in model.document["inputs"][1]["levels"] and "1" in model.document["inputs"][1]["levels"]
    a = model.explain(dict(RECORD, district="01"))
    b = model.explain(dict(RECORD, district="1"))
    assert a.contributions[1]["level"] == "01" and b.contributions[1]["level"] == "1"
    assert a.relativities["district"] != b.relativities["district"]
    assert model.explain(dict(RECORD, district=1)).relativities == b.relativities
