"""Numeric inputs banded into ordered levels, and missing values given a level: fit, file, scorer."""

import json
import warnings

import jsonschema
import numpy as np
import pandas as pd
import pytest
from banding_support import assert_same_predictions, fit_and_load, motor_frame

from hdtweedie import FactorEncoder
from hdtweedie._export import build_document
from hdtweedie.charts import factor_chart_data
from hdtweedie.scoring import ModelFileError, load_model, model_schema, validate_document
from hdtweedie.scoring._bands import band_codes, band_labels

EDGES = [17, 25, 40, 60, 100]


@pytest.fixture(scope="module")
def banded(tmp_path_factory):
    df, exposure, y = motor_frame()
    enc = FactorEncoder(bands={"driver_age": EDGES})
    pipe, model = fit_and_load(enc, df, exposure, y, tmp_path_factory.mktemp("b") / "banded.json")
    return df, enc, pipe, model


def test_bands_are_closed_on_the_left_and_the_last_on_both_sides():
    assert band_labels([17.0, 25.0, 40.0, 60.0, 100.0]) == ["[17, 25)", "[25, 40)", "[40, 60)", "[60, 100]"]
    assert band_labels([0.5, 1.25]) == ["[0.5, 1.25]"]
    x = np.array([17, 24.999, 25, 59, 60, 100, 16, 101, np.nan, -np.inf, np.inf])
    assert band_codes(x, EDGES).tolist() == [0, 0, 1, 2, 3, 3, 0, 3, -2, 0, 3]


def test_encoder_bands_a_numeric_column_into_ordered_levels(banded):
    df, enc, _, _ = banded
    assert enc.levels_["driver_age"] == ["[17, 25)", "[25, 40)", "[40, 60)", "[60, 100]"]
    assert enc.bands_ == {"driver_age": [17.0, 25.0, 40.0, 60.0, 100.0]}
    assert enc.band_ranges_["driver_age"] == (df["driver_age"].min(), df["driver_age"].max())
    assert "driver_age" in enc.factors_ and "driver_age" not in enc.numeric_
    # base level: the band with the most exposure, as for any factor
    weights = enc.level_weights_["driver_age"]
    assert enc.base_levels_["driver_age"] == max(weights, key=weights.get)
    X = np.asarray(enc.transform(df))  # the pipeline set pandas output
    names = list(enc.get_feature_names_out())
    young = X[:, names.index("driver_age=[17, 25)")]
    np.testing.assert_array_equal(young, (df["driver_age"] < 25).to_numpy(dtype=float))


def test_quantile_bands_have_about_equal_exposure_and_observed_edges():
    df, exposure, _ = motor_frame(n=4000, seed=3)
    enc = FactorEncoder(bands={"driver_age": {"quantiles": 5}}).fit(df, sample_weight=exposure)
    edges = enc.bands_["driver_age"]
    assert len(edges) == 6 and set(edges) <= set(df["driver_age"])
    assert edges[0] == df["driver_age"].min() and edges[-1] == df["driver_age"].max()
    shares = np.array(list(enc.level_weights_["driver_age"].values())) / exposure.sum()
    assert np.all(np.abs(shares - 0.2) < 0.03)
    # the weights, not the row counts, set the edges
    heavy = np.where(df["driver_age"] > 70, 50.0, 1.0)
    by_weight = FactorEncoder(bands={"driver_age": {"quantiles": 5}}).fit(df, sample_weight=heavy)
    assert by_weight.bands_["driver_age"][1] > 70


def test_tied_quantiles_give_fewer_bands():
    df = pd.DataFrame({"age": [30.0] * 90 + [40.0] * 5 + [50.0] * 5})
    enc = FactorEncoder(bands={"age": {"quantiles": 4}}).fit(df)
    assert enc.levels_["age"] == ["[30, 40)", "[40, 50]"]


def test_banded_file_scores_as_the_pipeline(banded):
    df, _, pipe, model = banded
    assert_same_predictions(pipe, model, df)
    spec = next(s for s in model.document["inputs"] if s["name"] == "driver_age")
    assert spec["kind"] == "factor" and spec["bands"]["edges"] == [17.0, 25.0, 40.0, 60.0, 100.0]
    assert model.document["schema_version"] == "1.3"


def test_banded_file_matches_the_shipped_schema(banded):
    _, _, _, model = banded
    jsonschema.Draft202012Validator(model_schema()).validate(model.document)


def test_values_outside_the_training_range_are_scored_in_the_end_band_and_flagged(banded):
    df, _, _, model = banded
    lo, hi = df["driver_age"].min(), df["driver_age"].max()
    rows = df.iloc[:3].copy()
    rows["driver_age"] = [lo - 5, hi + 40, 30.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = model.predict(rows)
    flagged = [i for i in pred.warnings if i.kind == "out_of_range"]
    assert len(flagged) == 1 and flagged[0].input == "driver_age" and flagged[0].scored
    assert flagged[0].rows.tolist() == [0, 1]
    assert "training range" in flagged[0].message
    ends = rows.copy()
    ends["driver_age"] = [17.0, 99.0, 30.0]
    np.testing.assert_array_equal(pred.values, model.predict(ends, warn=False).values)


def test_explain_compare_and_factor_table_speak_in_bands(banded):
    df, _, _, model = banded
    record = dict(df.iloc[0], driver_age=19.0)
    explanation = model.explain(record)
    age = next(c for c in explanation.contributions if c["input"] == "driver_age")
    assert age["level"] == "[17, 25)" and age["value"] == 19.0
    comparison = model.compare(record, dict(record, driver_age=45.0))
    assert [c["input"] for c in comparison.changed_inputs] == ["driver_age"]
    young = next(r for r in model.factor_table() if r["Level"] == "[17, 25)")
    middle = next(r for r in model.factor_table() if r["Level"] == "[40, 60)")
    assert comparison.ratio == pytest.approx(middle["Relativity"] / young["Relativity"], rel=1e-12)
    levels = [r["Level"] for r in model.factor_table() if r["Factor"] == "driver_age"]
    assert levels == ["[17, 25)", "[25, 40)", "[40, 60)", "[60, 100]"]
    model.factor_table(policies=df)  # every raw age has a band: no level is lacking


def test_factor_chart_tabulates_exposure_by_band(banded):
    df, _, _, model = banded
    exposure = np.linspace(0.5, 1.0, len(df))
    actual = np.ones(len(df))
    table = factor_chart_data(model, df, actual, exposure, factors=["driver_age"])["driver_age"]
    assert list(table.index) == ["[17, 25)", "[25, 40)", "[40, 60)", "[60, 100]"]
    codes = band_codes(df["driver_age"].to_numpy(), EDGES)
    np.testing.assert_allclose(table["exposure"], np.bincount(codes, weights=exposure), rtol=1e-12)
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from hdtweedie.charts import factor_chart

    ax = factor_chart(table).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(table.index)


def test_banding_leaves_the_callers_data_unchanged():
    df, exposure, _ = motor_frame(n=200)
    df.loc[3, "driver_age"] = np.nan
    before = df.copy()
    enc = FactorEncoder(bands={"driver_age": {"quantiles": 3}}, missing_level="Unknown", min_exposure=5)
    enc.fit_transform(df, sample_weight=exposure)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("bands, error, match", [
    ({"driver_age": [17, 40, 25, 100]}, ValueError, r"bands\['driver_age'\].*increasing.*\[17, 40, 25"),
    ({"driver_age": [17, 17, 100]}, ValueError, r"strictly increasing"),
    ({"driver_age": [17, "25", 100]}, TypeError, r"bands\['driver_age'\].*must be numbers.*'25'"),
    ({"driver_age": "17-25"}, TypeError, r"bands\['driver_age'\].*sequence of numbers.*'17-25'"),
    ({"driver_age": [17]}, ValueError, r"at least two edges"),
    ({"driver_age": [17, float("inf")]}, ValueError, r"finite"),
    ({"driver_age": {"quantiles": 1}}, ValueError, r"bands\['driver_age'\]\['quantiles'\].*2, got 1"),
    ({"driver_age": {"quantiles": 2.5}}, TypeError, r"\['quantiles'\] must be an integer, got 2.5"),
    ({"driver_age": {"width": 5}}, ValueError, r"bands\['driver_age'\] must be.*\{'width': 5\}"),
    ({"colour": [0, 1, 2]}, ValueError, r"bands\['colour'\]: column 'colour' must be numeric.*at row 0"),
    ({"postcode": [0, 1]}, ValueError, r"bands names \['postcode'\], which are not.*'driver_age'"),
    ([17, 25], TypeError, r"bands must be a dict.*\[17, 25\]"),
])
def test_bad_bands_are_refused_naming_the_argument(bands, error, match):
    df, _, _ = motor_frame(n=50)
    with pytest.raises(error, match=match):
        FactorEncoder(bands=bands).fit(df)


def test_banding_a_boolean_or_constant_column_is_refused():
    with pytest.raises(ValueError, match=r"bands\['flag'\].*numeric.*dtype bool"):
        FactorEncoder(bands={"flag": [0, 1]}).fit(pd.DataFrame({"flag": [True, False]}))
    with pytest.raises(ValueError, match=r"bands\['age'\].*single value 30.0"):
        FactorEncoder(bands={"age": {"quantiles": 3}}).fit(pd.DataFrame({"age": [30.0, 30.0]}))


def test_missing_values_take_the_missing_level_at_fit_and_score(tmp_path):
    df, exposure, y = motor_frame()
    df["colour"] = df["colour"].astype(object)
    df.loc[:40, "driver_age"] = np.nan
    df.loc[:60, "colour"] = None
    df.loc[61:80, "colour"] = np.nan
    enc = FactorEncoder(bands={"driver_age": EDGES}, missing_level={"driver_age": "Unknown", "colour": "n/a"})
    pipe, model = fit_and_load(enc, df, exposure, y, tmp_path / "missing.json")
    assert enc.levels_["driver_age"][-1] == "Unknown" and "n/a" in enc.levels_["colour"]
    assert enc.level_weights_["colour"]["n/a"] == pytest.approx(exposure[:81].sum())
    assert_same_predictions(pipe, model, df)
    record = dict(df.iloc[100])
    unknown = [model.explain(dict(record, driver_age=v, colour=c))
               for v, c in ((None, None), (np.nan, pd.NA), (pd.NA, np.nan))]
    for explanation in unknown:
        levels = {c["input"]: c["level"] for c in explanation.contributions}
        assert levels["driver_age"] == "Unknown" and levels["colour"] == "n/a"
        assert explanation.prediction == unknown[0].prediction
    levels = [r["Level"] for r in model.factor_table() if r["Factor"] == "driver_age"]
    assert levels[-1] == "Unknown"


def test_missing_values_stay_an_error_without_a_missing_level():
    df, _, _ = motor_frame(n=100)
    df.loc[5, "driver_age"] = np.nan
    with pytest.raises(ValueError, match=r"banded factor 'driver_age' has missing values.*missing_level"):
        FactorEncoder(bands={"driver_age": EDGES}).fit(df)
    df = pd.DataFrame({"colour": ["Red", None, "Blue"]})
    with pytest.raises(ValueError, match=r"factor 'colour' has missing values.*missing_level"):
        FactorEncoder().fit(df)
    enc = FactorEncoder(missing_level="Unknown").fit(df.iloc[[0, 2]])
    with pytest.raises(ValueError, match=r"not seen at fit time"):  # no missing level was learnt
        enc.transform(df)


def test_a_missing_level_unseen_in_training_is_an_unseen_level_for_the_scorer(tmp_path):
    df, exposure, y = motor_frame()
    enc = FactorEncoder(missing_level="Unknown", handle_unknown="base")
    pipe, model = fit_and_load(enc, df, exposure, y, tmp_path / "m.json")
    assert "Unknown" not in model.document["inputs"][1]["levels"]
    record = dict(df.iloc[0])
    pred = model.predict([dict(record, colour=None)], warn=False)
    assert [i.kind for i in pred.warnings] == ["unseen_level"] and pred.warnings[0].scored
    base = dict(record, colour=enc.base_levels_["colour"])
    assert pred.values[0] == model.predict([base]).values[0]
    with pytest.raises(TypeError, match=r"missing_level must be a non-empty string, got 3"):
        FactorEncoder(missing_level=3).fit(df)


def test_a_base_level_may_be_a_band_label_or_a_number_in_the_band():
    df, _, _ = motor_frame(n=300)
    by_label = FactorEncoder(bands={"driver_age": EDGES}, base_levels={"driver_age": "[25, 40)"}).fit(df)
    by_number = FactorEncoder(bands={"driver_age": EDGES}, base_levels={"driver_age": 31}).fit(df)
    assert by_label.base_levels_["driver_age"] == by_number.base_levels_["driver_age"] == "[25, 40)"
    with pytest.raises(ValueError, match=r"base_levels\['driver_age'\] = '25-40' is not a level"):
        FactorEncoder(bands={"driver_age": EDGES}, base_levels={"driver_age": "25-40"}).fit(df)


def test_a_file_without_the_new_fields_is_written_as_before(tmp_path):
    df, exposure, y = motor_frame()
    enc = FactorEncoder()
    pipe, model = fit_and_load(enc, df.drop(columns="driver_age"), exposure, y, tmp_path / "plain.json")
    doc = model.document
    assert doc["schema_version"] == "1.1"
    assert all(set(s) == {"kind", "name", "levels", "base_level", "features", "handle_unknown"}
               for s in doc["inputs"])


def test_the_schema_1_0_fixture_scores_and_tabulates_as_before():
    from signoff_models import FIXTURE

    expected = json.loads((FIXTURE.parent / "model_schema_1_0_scores.json").read_text())
    model = load_model(FIXTURE)
    pred = model.predict(expected["records"], exposure=expected["exposure"])
    assert pred.values.tolist() == expected["prediction"]
    doc = json.loads(FIXTURE.read_text())
    rows = model.factor_table(include_base=False)
    want = [(s["name"], lv, float(np.exp(doc["coefficients"][s["features"][lv]])) if lv in s["features"]
             else 1.0) for s in doc["inputs"] if s["kind"] == "factor" for lv in s["levels"]]
    assert [(r["Factor"], r["Level"], r["Relativity"]) for r in rows if r["Level"] != "per unit"] == want


@pytest.mark.parametrize("edit, match", [
    (lambda s: s["bands"].update(edges=[17.0, 40.0, 25.0, 60.0, 100.0]), "strictly increasing"),
    (lambda s: s["levels"].reverse(), "levels must be the bands"),
    (lambda s: s["bands"].update(min=99.0, max=20.0), "min 99.0 > max 20.0"),
    (lambda s: s.update(merged={"[17, 21)": "[17, 25)"}), "not 'merged'"),
])
def test_an_inconsistent_banded_file_is_refused(banded, edit, match):
    _, enc, pipe, _ = banded
    doc = build_document(pipe[-1], encoder=enc)
    edit(next(s for s in doc["inputs"] if s["name"] == "driver_age"))
    with pytest.raises(ModelFileError, match=match):
        validate_document(doc)


def test_the_scorers_design_matrix_is_the_encoders(tmp_path):
    df, exposure, y = motor_frame()
    df.loc[:30, "driver_age"] = np.nan
    enc = FactorEncoder(bands={"driver_age": {"quantiles": 4}}, min_exposure=45, missing_level="Unknown")
    _, model = fit_and_load(enc, df, exposure, y, tmp_path / "d.json")
    X = model.design_matrix(df)
    X = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
    np.testing.assert_array_equal(X, np.asarray(enc.transform(df)))
