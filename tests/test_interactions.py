"""Interactions: FactorEncoder(interactions=), their model-file inputs, scoring, explain, compare, tables."""

import csv
import json
import math
from importlib import resources

import jsonschema
import numpy as np
import pandas as pd
import pytest

from hdtweedie import FactorEncoder, HDTweedie
from hdtweedie._export import build_document, export_model
from hdtweedie._groups import make_groups
from hdtweedie.scoring import ModelFileError, content_hash, load_model, validate_document
from hdtweedie.scoring._model import _restore

PAIRS = [("area", "ncd"), ("age", "area")]


def _frame(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "area": rng.choice(["A", "B", "C"], n, p=[0.3, 0.3, 0.4]),
        "ncd": rng.choice(["0", "1", "2"], n, p=[0.2, 0.3, 0.5]),
        "colour": rng.choice(["red", "blue", "grey", "white"], n),
        "age": rng.uniform(0.0, 5.0, n),
    })


def _response(df, seed=1, cell=0.6, slope=0.15):
    """Tweedie-like response with a true area x ncd cell effect and an area C age slope."""
    rng = np.random.default_rng(seed)
    eta = (0.2 * (df["area"] == "B") + 0.1 * (df["ncd"] == "0") + 0.05 * df["age"]
           + cell * ((df["area"] == "A") & (df["ncd"] == "0")) + slope * df["age"] * (df["area"] == "A"))
    mu = np.exp(eta.to_numpy())
    counts = rng.poisson(mu)
    return np.array([rng.gamma(2.0, 0.5, c).sum() for c in counts])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    df = _frame()
    y = _response(df)
    enc = FactorEncoder(interactions=PAIRS).fit(df)
    X = enc.transform(df)
    model = HDTweedie(power=1.5, groups=enc.groups_, n_lambdas=30).fit(X, y)
    path = tmp_path_factory.mktemp("m") / "inter.json"
    export_model(model, path, encoder=enc)
    return df, enc, X, model, load_model(path)


# -- encoder -------------------------------------------------------------------------------------

def test_cells_on_a_base_level_have_no_column_and_each_interaction_is_one_group():
    df = _frame(200)
    enc = FactorEncoder(interactions=PAIRS, base_levels={"area": "C", "ncd": "2"}).fit(df)
    names = list(enc.get_feature_names_out())
    cells = [f for f in names if f.startswith("area:ncd=")]
    assert cells == ["area:ncd=A:0", "area:ncd=A:1", "area:ncd=B:0", "area:ncd=B:1"]
    assert [f for f in names if f.startswith("age:area=")] == ["age:area=A", "age:area=B"]
    assert [g for g, f in zip(enc.groups_, names) if f in cells] == ["area:ncd"] * 4
    # groups="factor" reads the same groups from the names
    gs = make_groups("factor", len(names), np.array(names, dtype=object))
    assert gs.labels == ["area", "ncd", "colour", "age", "area:ncd", "age:area"]
    X = enc.transform(df)
    cell = (df["area"] == "A").to_numpy() & (df["ncd"] == "1").to_numpy()
    np.testing.assert_array_equal(X[:, names.index("area:ncd=A:1")], cell.astype(float))
    slope = np.where(df["area"] == "B", df["age"], 0.0)
    np.testing.assert_array_equal(X[:, names.index("age:area=B")], slope)


def test_sparse_output_equals_dense_and_the_input_is_left_unchanged():
    df = _frame(300)
    before = df.copy()
    dense = FactorEncoder(interactions=PAIRS).fit_transform(df)
    sparse = FactorEncoder(interactions=PAIRS, sparse_output=True).fit_transform(df)
    np.testing.assert_array_equal(sparse.toarray(), dense)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("interactions, message", [
    ([("area", "nope")], r"interactions: \('area', 'nope'\) names 'nope', which is not a column"),
    ([("area", "area")], r"interactions: \('area', 'area'\) pairs the column 'area' with itself"),
    ([("age", "age2")], r"interactions: \('age', 'age2'\) pairs two numeric columns"),
    ([("area", "ncd"), ("ncd", "area")], r"interactions: \('ncd', 'area'\) is given twice"),
    (["area"], r"interactions: each interaction must be a pair of column names, got 'area'"),
    ("area", r"interactions must be a list of pairs of column names, got 'area'"),
    ([("area", "ncd", "age")], r"must be a pair of column names, got \('area', 'ncd', 'age'\)"),
    ([{"area", "ncd"}], r"must be a pair of column names, got \{"),
])
def test_bad_interactions_are_refused_naming_the_argument(interactions, message):
    df = _frame(50).assign(age2=1.0)
    with pytest.raises(ValueError, match=message):
        FactorEncoder(interactions=interactions).fit(df)


def test_an_interaction_name_that_is_also_a_column_is_refused():
    df = _frame(50).assign(**{"area:ncd": 1.0})
    with pytest.raises(ValueError, match=r"interaction name 'area:ncd' is also a column of X"):
        FactorEncoder(interactions=[("area", "ncd")]).fit(df)


# -- scoring, explain, compare -------------------------------------------------------------------

def test_exported_predictions_equal_in_memory_ones_from_raw_records(fitted):
    df, enc, X, model, sm = fitted
    for s in (None, float(model.lambdas_[12])):
        m = sm if s is None else _restore(build_document(model, s=s, encoder=enc), "mem", False)
        expected = model.predict(X, s=s if s is not None else float(model.lambdas_[-1]))
        got = np.asarray(m.predict(df))
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(np.asarray(sm.predict(X)), model.predict(X, s=float(model.lambdas_[-1])),
                               rtol=1e-12)


def test_design_matrix_of_records_is_the_encoder_output(fitted):
    df, enc, X, _, sm = fitted
    np.testing.assert_array_equal(sm.design_matrix(df), X)


def test_files_with_interactions_are_schema_1_3_and_others_unchanged(fitted):
    df, enc, X, model, sm = fitted
    assert sm.document["schema_version"] == "1.3"
    assert [s["kind"] for s in sm.document["inputs"]][-2:] == ["interaction", "interaction"]
    assert sm.input_names == ["area", "ncd", "colour", "age"]
    plain = FactorEncoder().fit(df)
    plain_model = HDTweedie(power=1.5, groups=plain.groups_, n_lambdas=5).fit(plain.transform(df),
                                                                              _response(df))
    assert build_document(plain_model, encoder=plain)["schema_version"] == "1.1"


@pytest.mark.parametrize("row", [0, 7, 11])
def test_explain_contributions_sum_to_the_log_prediction(fitted, row):
    df, _, X, _, sm = fitted
    for record in (df.iloc[row].to_dict(), X[row]):
        e = sm.explain(record, exposure=2.0)
        lines = {c["input"]: c for c in e.contributions}
        assert list(lines) == ["area", "ncd", "colour", "age", "area:ncd", "age:area"]
        total = e.intercept + math.log(2.0) + math.fsum(c["link"] for c in e.contributions)
        assert total == pytest.approx(math.log(e.prediction), abs=1e-12)
        assert lines["area:ncd"]["kind"] == "interaction"
        assert lines["area:ncd"]["level"] == f"{df['area'][row]}:{df['ncd'][row]}"
        assert lines["age:area"]["level"] == df["area"][row]
        assert lines["age:area"]["value"] == pytest.approx(df["age"][row], abs=0)
    assert "area:ncd" in str(e)


def test_compare_attributes_a_parent_change_to_the_parent_and_its_interactions(fitted):
    df, _, _, _, sm = fitted
    a = df.iloc[0].to_dict()
    a.update(area="B", ncd="0")
    b = dict(a, area="A")
    c = sm.compare(a, b)
    lines = {x["input"]: x["link"] for x in c.input_attribution}
    assert set(lines) == {"area", "area:ncd", "age:area"}
    assert [x["input"] for x in c.changed_inputs] == ["area"]
    ea, eb = ({x["input"]: x["link"] for x in sm.explain(r).contributions} for r in (a, b))
    assert lines == {name: eb[name] - ea[name] for name in lines}
    assert c.input_part == pytest.approx(c.log_ratio, abs=1e-12)
    assert lines["area:ncd"] != 0.0
    # a numeric parent's change moves its interaction line too
    c2 = sm.compare(b, dict(b, age=b["age"] + 1.0))
    assert {x["input"] for x in c2.input_attribution} == {"age", "age:area"}
    assert c2.input_part == pytest.approx(c2.log_ratio, abs=1e-12)


# -- selection by the group lasso ----------------------------------------------------------------

def test_group_lasso_keeps_a_true_interaction_where_it_drops_a_noise_one():
    df = _frame(4000, seed=3)
    y = _response(df, seed=4, cell=0.7, slope=0.0)
    enc = FactorEncoder(interactions=[("area", "ncd"), ("area", "colour")]).set_output(transform="pandas")
    X = enc.fit_transform(df)
    model = HDTweedie(power=1.5, groups="factor", n_lambdas=40).fit(X, y)
    names = list(X.columns)
    true = [i for i, f in enumerate(names) if f.startswith("area:ncd=")]
    noise = [i for i, f in enumerate(names) if f.startswith("area:colour=")]
    path = model.coef_path_
    kept = np.all(path[true] != 0, axis=0)
    dropped = np.all(path[noise] == 0, axis=0)
    assert np.any(kept & dropped)
    # whole groups: a group's columns enter and leave the path together
    for cols in (true, noise):
        assert np.all(np.all(path[cols] != 0, axis=0) | np.all(path[cols] == 0, axis=0))
    assert np.argmax(kept) < np.argmax(~dropped)  # the true one enters first


# -- factor table and two-way tables -------------------------------------------------------------

def test_two_way_tables_alone_and_combined(fitted, tmp_path):
    _, enc, _, model, sm = fitted
    coef = dict(zip(enc.get_feature_names_out(), model.coef_[:] if model.coef_.ndim == 1 else model.coef_))
    alone = sm.interaction_table("area:ncd")
    assert (alone["rows"], alone["columns"]) == ("area", "ncd")
    assert alone["row_levels"] == enc.levels_["area"] and alone["column_levels"] == enc.levels_["ncd"]
    combined = sm.interaction_table("area:ncd", view="combined")
    for i, la in enumerate(alone["row_levels"]):
        for j, lb in enumerate(alone["column_levels"]):
            link = coef.get(f"area:ncd={la}:{lb}", 0.0)
            assert alone["relativities"][i][j] == math.exp(link)
            main = coef.get(f"area={la}", 0.0) + coef.get(f"ncd={lb}", 0.0)
            assert combined["relativities"][i][j] == pytest.approx(math.exp(main + link), rel=1e-14)
    slopes = sm.interaction_table("age:area", view="combined")
    assert slopes["rows"] == "area" and slopes["columns"] == "age" and slopes["column_levels"] == ["per unit"]
    for i, lv in enumerate(slopes["row_levels"]):
        assert slopes["relativities"][i][0] == pytest.approx(
            math.exp(coef["age"] + coef.get(f"age:area={lv}", 0.0)), rel=1e-14)
    sm.interaction_table("area:ncd", tmp_path / "t.csv", view="combined")
    with open(tmp_path / "t.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["area \\ ncd"] + combined["column_levels"]
    assert [[r[0]] + [float(v) for v in r[1:]] for r in rows[1:]] == [
        [lv] + line for lv, line in zip(combined["row_levels"], combined["relativities"])]
    sm.interaction_table("area:ncd", tmp_path / "t.json", decimals=4)
    assert json.loads((tmp_path / "t.json").read_text()) == sm.interaction_table("area:ncd", decimals=4)


def test_flat_factor_table_lists_every_cell_and_level_slope(fitted):
    _, enc, _, _, sm = fitted
    rows = sm.factor_table()
    cells = [r["Level"] for r in rows if r["Factor"] == "area:ncd"]
    assert cells == [f"{a}:{b}" for a in enc.levels_["area"] for b in enc.levels_["ncd"]]
    assert [r["Level"] for r in rows if r["Factor"] == "age:area"] == [
        f"{lv} per unit" for lv in enc.levels_["area"]]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": "area"}, ValueError, r"name: the model has no interaction 'area'; its interactions are"),
    ({"name": 3}, TypeError, r"name must be the name of an interaction, got int 3"),
    ({"name": "area:ncd", "view": "both"}, ValueError, r"view must be one of .* got 'both'"),
    ({"name": "area:ncd", "decimals": 16}, ValueError, r"decimals must be an integer from 0 to 15, got 16"),
])
def test_bad_table_arguments(fitted, kwargs, error, message):
    with pytest.raises(error, match=message):
        fitted[4].interaction_table(**kwargs)


# -- the model file ------------------------------------------------------------------------------

def _edited(sm, edit):
    doc = sm.document
    edit(doc)
    doc["sha256"] = content_hash(doc)
    return doc


def _spec(doc, name):
    return next(s for s in doc["inputs"] if s["name"] == name)


@pytest.mark.parametrize("edit, message", [
    (lambda d: _spec(d, "area:ncd").update(of=["area", "area"]), r"pairs 'area' with itself"),
    (lambda d: _spec(d, "area:ncd").update(of=["area", "zone"]), r"parents \['zone'\] are not"),
    (lambda d: _spec(d, "age:area").update(of=["age", "age"]), r"pairs 'age' with itself"),
    (lambda d: _spec(d, "area:ncd")["features"].popitem(), r"features must map every non-base level"),
    (lambda d: _spec(d, "age:area")["features"].update(Z="age:area=Z"), r"non-base level of 'area'"),
    (lambda d: _spec(d, "area:ncd").update(of=["area", "ncd", "age"]), r"more than 2 items"),
])
def test_bad_interaction_inputs_in_a_file_are_refused(fitted, edit, message):
    with pytest.raises(ModelFileError, match=message):
        validate_document(_edited(fitted[4], edit))


def test_numeric_by_numeric_in_a_file_is_refused(fitted):
    def edit(doc):
        doc["inputs"].insert(3, {"kind": "numeric", "name": "age2", "feature": "age2", "min": 0, "max": 1})
        doc["features"].append("age2")
        doc["coefficients"]["age2"] = 0.0
        _spec(doc, "age:area").update(of=["age", "age2"])
    with pytest.raises(ModelFileError, match=r"interaction 'age:area': pairs two numeric inputs"):
        validate_document(_edited(fitted[4], edit))


def test_the_link_bound_covers_interaction_slopes_over_the_training_range(fitted):
    def edit(doc):
        feature = next(iter(_spec(doc, "age:area")["features"].values()))
        doc["coefficients"][feature] = 200.0  # times age up to 5: beyond exp's range
    with pytest.raises(ModelFileError, match=r"linear predictor reaches"):
        validate_document(_edited(fitted[4], edit))


def test_a_parent_without_main_effect_is_still_required_and_checked(fitted):
    df, enc, _, _, sm = fitted

    def edit(doc):
        for feature in _spec(doc, "area")["features"].values():
            doc["coefficients"][feature] = 0.0
        for row in _spec(doc, "area:ncd")["features"].values():
            for feature in row.values():
                doc["coefficients"][feature] = 0.1
    m = _restore(_edited(sm, edit), "edited", False)
    assert "area" in m.required_inputs
    record = df.iloc[0].to_dict()
    with pytest.raises(ValueError, match=r"records lack the input\(s\) \['area'\]"):
        m.predict({k: v for k, v in record.items() if k != "area"})
    with pytest.raises(ValueError, match=r"area: 1 row with a level not seen in training \('Z'\)"):
        m.predict(dict(record, area="Z"))


def test_the_shipped_schema_agrees_with_jsonschema_on_interaction_inputs(fitted):
    schema = resources.files("hdtweedie").joinpath("schema", "model.schema.json").read_text("utf-8")
    validator = jsonschema.Draft202012Validator(json.loads(schema))
    doc = fitted[4].document
    validator.validate(doc)
    for bad in ({"of": ["area", "ncd", "age"]}, {"features": {"A": {"0": ""}}}, {"features": {"A": 3}}):
        edited = _edited(fitted[4], lambda d, bad=bad: _spec(d, "area:ncd").update(bad))
        assert list(validator.iter_errors(edited))
        with pytest.raises(ModelFileError, match="does not match the schema"):
            validate_document(edited)


def test_unseen_levels_under_base_score_the_base_cells_as_the_encoder_does(tmp_path):
    df = _frame(600)
    enc = FactorEncoder(interactions=PAIRS, handle_unknown="base").fit(df)
    model = HDTweedie(power=1.5, groups=enc.groups_, n_lambdas=10).fit(enc.transform(df), _response(df))
    export_model(model, tmp_path / "m.json", encoder=enc)
    sm = load_model(tmp_path / "m.json")
    new = _frame(20, seed=9)
    new.loc[:4, "area"] = "Z"
    with pytest.warns(UserWarning, match="not seen"):
        X = enc.transform(new)
    with pytest.warns(UserWarning, match="not seen"):
        got = np.asarray(sm.predict(new))
    np.testing.assert_allclose(got, model.predict(X), rtol=1e-12)
    with pytest.warns(UserWarning, match="not seen"):
        np.testing.assert_array_equal(sm.design_matrix(new), X)
