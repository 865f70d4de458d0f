"""Factor tables for rating engines (SE, intervals, rounding, names, policies) and the design matrix."""

import csv
import math
import warnings
from statistics import NormalDist

import numpy as np
import pytest
from signoff_models import FIXTURE, add_level, fixture_document, write_document

from hdtweedie.scoring import ScoringInputWarning, load_model

ROWS = [{"area": "B", "district": "01", "ncd": "0", "age": 30.0},
        {"area": "A", "district": "2", "ncd": "3", "age": 40.0},
        {"area": "C", "district": "1", "ncd": "2", "age": 55.5}]


@pytest.fixture(scope="module")
def model():
    return load_model(FIXTURE)


@pytest.fixture(scope="module")
def se(model):
    values = {f: 0.02 * (i + 1) for i, f in enumerate(model.feature_names)}
    values["intercept"] = 0.05
    return values


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


# -- design matrix --------------------------------------------------------------------------------

def test_design_matrix_reproduces_predict(model):
    X = model.design_matrix(ROWS)
    assert X.shape == (3, len(model.feature_names)) and X.dtype == np.float64
    np.testing.assert_allclose(np.exp(model.intercept + X @ model.coef), model.predict(ROWS), rtol=1e-14)
    assert X[0, list(model.feature_names).index("area=B")] == 1.0
    assert X[1, :-1].sum() == 0.0  # base levels everywhere
    assert X[2, list(model.feature_names).index("age")] == 55.5


def test_design_matrix_of_a_design_matrix_is_a_copy(model):
    X = model.design_matrix(ROWS)
    Y = model.design_matrix(X)
    np.testing.assert_array_equal(X, Y)
    assert Y is not X


@pytest.mark.parametrize("change, fragment", [
    ({"area": None}, "'area' has a missing value"),
    ({"area": "Z"}, "not seen in training ['Z']"),
    ({"age": float("nan")}, "'age' has a missing, NaN or infinite value"),
    ({"age": float("inf")}, "'age' has a missing, NaN or infinite value"),
])
def test_design_matrix_refuses_rows_it_cannot_encode(model, change, fragment):
    rows = [dict(ROWS[0]), dict(ROWS[1], **change)]
    with pytest.raises(ValueError, match="row") as info:
        model.design_matrix(rows)
    assert fragment in str(info.value) and "(1)" in str(info.value)


def test_design_matrix_needs_every_input(model):
    with pytest.raises(ValueError, match=r"lack the input\(s\) \['age'\]"):
        model.design_matrix([{k: v for k, v in ROWS[0].items() if k != "age"}])


def test_design_matrix_unseen_level_as_base_warns(model):
    with pytest.warns(ScoringInputWarning, match="1 row"):
        X = model.design_matrix([dict(ROWS[0], area="Z")], unknown="base")
    assert X[0, list(model.feature_names).index("area=B")] == 0.0
    with pytest.raises(ValueError, match="unknown must be"):
        model.design_matrix(ROWS, unknown="drop")


def test_design_matrix_leaves_the_records_alone(model):
    rows = [dict(r) for r in ROWS]
    model.design_matrix(rows)
    assert rows == ROWS


# -- standard errors and intervals ----------------------------------------------------------------

def test_factor_table_default_is_unchanged(model, tmp_path):
    rows = model.factor_table(tmp_path / "t.csv")
    assert list(rows[0]) == ["Factor", "Level", "Relativity"]
    assert read_csv(tmp_path / "t.csv")[0] == ["Factor", "Level", "Relativity"]


def test_standard_errors_give_emblem_layout(model, se, tmp_path):
    path = tmp_path / "se.csv"
    rows = model.factor_table(path, standard_errors=se, confidence_level=0.9)
    lines = read_csv(path)
    assert lines[0] == ["Factor", "Level", "Relativity", "SE", "LowerCI", "UpperCI"]
    z = NormalDist().inv_cdf(0.95)
    doc = fixture_document()
    by_key = {(r["Factor"], r["Level"]): r for r in rows}
    for spec in doc["inputs"]:
        if spec["kind"] != "factor":
            continue
        base = by_key[(spec["name"], spec["base_level"])]
        assert (base["Relativity"], base["SE"], base["LowerCI"], base["UpperCI"]) == (1.0, 0.0, 1.0, 1.0)
        for level, feature in spec["features"].items():
            r, b, s = by_key[(spec["name"], level)], doc["coefficients"][feature], se[feature]
            assert r["SE"] == s
            assert r["LowerCI"] == pytest.approx(math.exp(b - z * s), rel=1e-12)
            assert r["UpperCI"] == pytest.approx(math.exp(b + z * s), rel=1e-12)
    first = by_key[("(intercept)", "")]
    assert first["LowerCI"] == pytest.approx(math.exp(doc["intercept"] - z * 0.05))
    for line, row in zip(lines[1:], rows):
        assert float(line[4]) == row["LowerCI"]  # shortest round-trip text


def test_wider_interval_for_higher_confidence(model, se):
    narrow = model.factor_table(standard_errors=se, confidence_level=0.8)
    wide = model.factor_table(standard_errors=se, confidence_level=0.99)
    assert all(w["LowerCI"] <= n["LowerCI"] and w["UpperCI"] >= n["UpperCI"] for w, n in zip(wide, narrow))


def test_standard_errors_from_a_series(model, se):
    pd = pytest.importorskip("pandas")
    rows = model.factor_table(standard_errors=pd.Series(se))
    assert rows == model.factor_table(standard_errors=se)


@pytest.mark.parametrize("change, error, fragment", [
    ({"area=B": None}, ValueError, "lacks the feature 'area=B'"),
    ({"area=B": -0.1}, ValueError, "standard_errors['area=B'] must be finite and >= 0, got -0.1"),
    ({"area=B": float("nan")}, ValueError, "standard_errors['area=B']"),
    ({"area=B": "0.1"}, TypeError, "must be a number, got '0.1'"),
])
def test_bad_standard_errors_are_named(model, se, change, error, fragment, tmp_path):
    values = {k: v for k, v in se.items() if k != "area=B"}
    if change["area=B"] is not None:
        values["area=B"] = change["area=B"]
    with pytest.raises(error) as info:
        model.factor_table(tmp_path / "x.csv", standard_errors=values)
    assert fragment in str(info.value)
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("level", [0, 1, 1.5, True, "0.9"])
def test_bad_confidence_level(model, se, level):
    with pytest.raises((ValueError, TypeError), match="confidence_level"):
        model.factor_table(standard_errors=se, confidence_level=level)


# -- rounding, names, policies --------------------------------------------------------------------

def test_decimals_round_every_number(model, se, tmp_path):
    path = tmp_path / "r.csv"
    rows = model.factor_table(path, standard_errors=se, decimals=3)
    cells = [c for line in read_csv(path)[1:] for c in line[2:]]
    assert all(len(c.partition(".")[2]) <= 3 for c in cells)
    exact = model.factor_table(standard_errors=se)
    assert all(r["Relativity"] == round(e["Relativity"], 3) for r, e in zip(rows, exact))


@pytest.mark.parametrize("decimals, error", [(-1, ValueError), (16, ValueError), (2.5, TypeError),
                                             (True, TypeError)])
def test_bad_decimals(model, decimals, error):
    with pytest.raises(error, match="decimals"):
        model.factor_table(decimals=decimals)


def test_names_rename_factors(model, tmp_path):
    rows = model.factor_table(tmp_path / "n.csv", names={"area": "PostcodeArea", "age": "DriverAge"})
    factors = [r["Factor"] for r in rows]
    assert "area" not in factors and factors.count("PostcodeArea") == 3 and "DriverAge" in factors
    assert read_csv(tmp_path / "n.csv")[2][0] == "PostcodeArea"


@pytest.mark.parametrize("names, error, fragment", [
    ({"postcode": "X"}, ValueError, "['postcode'] are not inputs"),
    ({"area": "ncd"}, ValueError, "'ncd' and 'area' would both be written as 'ncd'"),
    ({"area": "(intercept)"}, ValueError, "would both be written"),
    ({"area": ""}, TypeError, "non-empty strings"),
    (["area"], TypeError, "names must be a mapping"),
])
def test_bad_names(model, names, error, fragment):
    with pytest.raises(error) as info:
        model.factor_table(names=names)
    assert fragment in str(info.value)


def test_renamed_factor_name_is_spreadsheet_safe(model, tmp_path):
    model.factor_table(tmp_path / "f.csv", names={"area": "=HYPERLINK(1)"})
    assert read_csv(tmp_path / "f.csv")[2][0] == "'=HYPERLINK(1)"


def test_policies_with_known_levels_pass(model, tmp_path):
    rows = model.factor_table(tmp_path / "ok.csv", policies=ROWS)
    assert rows == model.factor_table()
    assert (tmp_path / "ok.csv").exists()


def test_policies_with_missing_levels_fail_and_write_nothing(model, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("before\n")
    policies = ROWS + [{"area": "D", "district": "7", "ncd": "0"}, {"area": "E", "ncd": None}]
    with pytest.raises(ValueError) as info:
        model.factor_table(path, policies=policies)
    text = str(info.value)
    assert "area: level(s) 'D', 'E'" in text and "district: level(s) '7'" in text
    assert "ncd: 1 missing value(s)" in text
    assert path.read_text() == "before\n"


def test_policies_may_use_the_new_names(model):
    with pytest.raises(ValueError, match="PostcodeArea: level"):
        model.factor_table(names={"area": "PostcodeArea"}, policies=[{"PostcodeArea": "Q"}])


def test_policies_without_any_factor_are_refused(model):
    with pytest.raises(ValueError, match="none of the model's factors"):
        model.factor_table(policies=[{"postcode": "AB1"}])
    with pytest.raises(TypeError, match="policies must be records"):
        model.factor_table(policies=np.zeros((2, 8)))


def test_a_model_with_more_levels_passes_where_the_old_one_failed(model, tmp_path):
    bigger = load_model(write_document(add_level(fixture_document(), "area", "D", 0.2), tmp_path / "m.json"))
    policies = [{"area": "D"}]
    with pytest.raises(ValueError, match="'D'"):
        model.factor_table(policies=policies)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert any(r["Level"] == "D" for r in bigger.factor_table(policies=policies))
