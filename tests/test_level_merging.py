"""Levels below a minimum exposure merged: adjacent levels of ordered factors, 'Other' for the rest."""

import numpy as np
import pandas as pd
import pytest
from banding_support import assert_same_predictions, fit_and_load, motor_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from hdtweedie import FactorEncoder
from hdtweedie._export import build_document
from hdtweedie.charts import factor_chart_data
from hdtweedie.scoring import ModelFileError, validate_document


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    df, exposure, y = motor_frame()
    enc = FactorEncoder(bands={"driver_age": [17, 21, 25, 40, 60, 100]}, min_exposure=45)
    pipe, model = fit_and_load(enc, df, exposure, y, tmp_path_factory.mktemp("m") / "merged.json")
    return df, exposure, enc, pipe, model


def _weights(df, column, exposure):
    return df.groupby(column)[column].size() if exposure is None else \
        pd.Series(exposure, index=df.index).groupby(df[column]).sum()


def test_sparse_levels_of_an_ordered_factor_join_their_lighter_neighbour():
    groups = [1] * 50 + [2] * 40 + [3] * 3 + [4] * 30 + [5] * 2 + [6] * 4
    enc = FactorEncoder(min_exposure=10).fit(pd.DataFrame({"group": [str(g) for g in groups]}))
    # lightest first: 5 (2 rows) joins 6 (4), 3 (3) joins 4 (30, lighter than 2), then {5, 6} joins {3, 4};
    # the run takes the name of its heaviest level
    assert enc.merged_levels_ == {"group": {"3": "4", "5": "4", "6": "4"}}
    assert enc.levels_["group"] == ["1", "2", "4"]
    assert enc.level_weights_["group"] == {"1": 50.0, "2": 40.0, "4": 39.0}


def test_sparse_levels_of_an_unordered_factor_gather_in_other():
    df, exposure, _ = motor_frame()
    enc = FactorEncoder(min_exposure=25).fit(df, sample_weight=exposure)
    assert enc.merged_levels_["colour"] == {"Pink": "Other", "Teal": "Other"}
    assert enc.levels_["colour"] == ["Black", "Blue", "Grey", "Other"]
    weights = _weights(df, "colour", exposure)
    assert enc.level_weights_["colour"]["Other"] == pytest.approx(weights["Pink"] + weights["Teal"])
    # an existing level of that name takes them in; the name can be chosen
    df2 = df.assign(colour=df["colour"].replace({"Grey": "Misc"}))
    enc2 = FactorEncoder(min_exposure=25, other_level="Misc").fit(df2, sample_weight=exposure)
    assert enc2.levels_["colour"] == ["Black", "Blue", "Misc"]
    assert enc2.merged_levels_["colour"] == {"Pink": "Misc", "Teal": "Misc"}


def test_sparse_bands_merge_into_a_wider_band(merged):
    df, exposure, enc, _, _ = merged
    assert "[17, 21)" not in enc.levels_["driver_age"]
    assert enc.levels_["driver_age"][0] == "[17, 25)" and 21.0 not in enc.bands_["driver_age"]
    assert enc.merged_levels_["driver_age"] == {"[17, 21)": "[17, 25)", "[21, 25)": "[17, 25)"}
    young = exposure[df["driver_age"].to_numpy() < 25].sum()
    assert enc.level_weights_["driver_age"]["[17, 25)"] == pytest.approx(young)
    assert min(enc.level_weights_["driver_age"].values()) >= 45


def test_the_minimum_counts_rows_without_weights_and_exposure_with_them():
    df = pd.DataFrame({"area": ["A"] * 10 + ["B"] * 3 + ["C"] * 3})
    assert FactorEncoder(min_exposure=4).fit(df).merged_levels_ == {"area": {"B": "Other", "C": "Other"}}
    w = np.array([0.1] * 10 + [5.0] * 6)
    assert FactorEncoder(min_exposure=4).fit(df, sample_weight=w).merged_levels_ == {"area": {"A": "Other"}}
    by_factor = FactorEncoder(min_exposure={"area": 1}).fit(df)
    assert by_factor.merged_levels_ == {} and by_factor.levels_["area"] == ["A", "B", "C"]


def test_the_missing_level_is_never_merged():
    df = pd.DataFrame({"area": ["A"] * 10 + ["B"] * 10 + [None] * 2, "ncd": [1] * 10 + [2] * 10 + [None] * 2})
    enc = FactorEncoder(factors=["area", "ncd"], min_exposure=5, missing_level="Unknown").fit(df)
    assert enc.merged_levels_ == {}
    assert enc.levels_ == {"area": ["A", "B", "Unknown"], "ncd": ["1", "2", "Unknown"]}


def test_merged_file_scores_as_the_pipeline_and_scores_merged_levels_as_their_level(merged):
    df, _, enc, pipe, model = merged
    assert_same_predictions(pipe, model, df)
    spec = {s["name"]: s for s in model.document["inputs"]}
    assert spec["vehicle_group"]["merged"] == enc.merged_levels_["vehicle_group"]
    assert "merged" not in spec["driver_age"]  # bands merge through their edges
    record = dict(df.iloc[0])
    for level, into in enc.merged_levels_["vehicle_group"].items():
        a = model.explain(dict(record, vehicle_group=level))
        b = model.explain(dict(record, vehicle_group=into))
        assert a.prediction == b.prediction
        assert next(c["level"] for c in a.contributions if c["input"] == "vehicle_group") == into


def test_factor_table_lists_every_level_with_the_relativity_of_its_merged_level(merged):
    df, _, enc, _, model = merged
    rows = [r for r in model.factor_table() if r["Factor"] == "vehicle_group"]
    assert [r["Level"] for r in rows] == [str(g) for g in range(1, 10)]
    rel = {r["Level"]: r["Relativity"] for r in rows}
    for level, into in enc.merged_levels_["vehicle_group"].items():
        assert rel[level] == rel[into]
    colour = [r["Level"] for r in model.factor_table() if r["Factor"] == "colour"]
    assert colour == ["Black", "Blue", "Grey", "Other", "Pink", "Teal"]
    model.factor_table(policies=df)  # a rating engine finds every level the policies use
    se = {f: 0.1 for f in model.feature_names}
    with_se = [r for r in model.factor_table(standard_errors=se) if r["Factor"] == "colour"]
    assert all(r["SE"] == 0.1 for r in with_se if r["Level"] in ("Other", "Pink", "Teal"))


def test_factor_chart_puts_merged_levels_in_their_level(merged):
    df, exposure, enc, _, model = merged
    table = factor_chart_data(model, df, np.ones(len(df)), exposure, factors=["colour"])["colour"]
    assert list(table.index) == ["Black", "Blue", "Grey", "Other"]
    weights = _weights(df, "colour", exposure)
    assert table.loc["Other", "exposure"] == pytest.approx(weights["Pink"] + weights["Teal"], rel=1e-12)


def test_a_base_level_merged_away_names_its_level():
    df = pd.DataFrame({"area": ["A"] * 10 + ["B"] * 10 + ["C"] * 2})
    enc = FactorEncoder(min_exposure=5, base_levels={"area": "C"}).fit(df)
    assert enc.base_levels_ == {"area": "Other"}


@pytest.mark.parametrize("min_exposure, error, match", [
    (-1, ValueError, r"min_exposure must be a finite number >= 0, got -1"),
    (float("nan"), ValueError, r"min_exposure must be a finite number >= 0, got nan"),
    ({"area": -2.5}, ValueError, r"min_exposure\['area'\] must be a finite number >= 0, got -2.5"),
    ("50", TypeError, r"min_exposure must be a number, got '50'"),
    (True, TypeError, r"min_exposure must be a number, got True"),
    ({"postcode": 5}, ValueError, r"min_exposure names \['postcode'\]"),
])
def test_bad_minimum_exposures_are_refused(min_exposure, error, match):
    with pytest.raises(error, match=match):
        FactorEncoder(min_exposure=min_exposure).fit(pd.DataFrame({"area": ["A", "B"]}))


def test_a_bad_other_level_is_refused():
    with pytest.raises(TypeError, match=r"other_level must be a non-empty string, got ''"):
        FactorEncoder(min_exposure=5, other_level="").fit(pd.DataFrame({"area": ["A", "B"]}))


def test_a_merge_to_a_level_the_factor_lacks_is_refused(merged):
    _, _, enc, pipe, _ = merged
    doc = build_document(pipe[-1], encoder=enc)
    spec = next(s for s in doc["inputs"] if s["name"] == "vehicle_group")
    spec["merged"] = {"9": "99"}
    with pytest.raises(ModelFileError, match=r"'vehicle_group': merged must map"):
        validate_document(doc)
    spec["merged"] = {"1": "2"}  # a level of the model cannot also be merged away
    with pytest.raises(ModelFileError, match=r"merged must map"):
        validate_document(doc)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=12), st.integers(0, 60), st.booleans())
def test_merging_keeps_the_exposure_and_leaves_no_light_level_that_could_merge(counts, minimum, ordered):
    names = [str(i) if ordered else f"L{i:02d}" for i in range(len(counts))]
    rows = [lv for lv, c in zip(names, counts) for _ in range(c)]
    if not rows:
        return
    enc = FactorEncoder(min_exposure=minimum).fit(pd.DataFrame({"f": rows}))
    weights = enc.level_weights_["f"]
    assert sum(weights.values()) == len(rows)
    seen = [lv for lv, c in zip(names, counts) if c]
    merged = enc.merged_levels_.get("f", {})
    assert sorted(set(seen) - set(merged)) == sorted(lv for lv in enc.levels_["f"] if lv in seen)
    assert all(to in enc.levels_["f"] for to in merged.values())
    light = [lv for lv, w in weights.items() if w < minimum]
    # only a factor merged down to one level, or (unordered) the gathered level, may stay light
    allowed = ([],) if ordered else ([], ["Other"])
    assert len(enc.levels_["f"]) == 1 or light in allowed
    codes = enc._codes("f", np.array(rows, dtype=object))
    assert np.all(codes >= 0)
