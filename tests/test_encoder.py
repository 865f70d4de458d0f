"""FactorEncoder: one-hot rating factors against explicit base levels, one group per factor."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from hdtweedie import FactorEncoder, HDTweedie
from hdtweedie._encoder import UnseenLevelWarning
from hdtweedie.scoring import level_key


def _frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "area": rng.choice(["A", "B", "C", "D"], n, p=[0.1, 0.5, 0.3, 0.1]),
        "ncd": rng.integers(0, 4, n),
        "age": rng.uniform(17, 80, n),
        "conviction": rng.random(n) < 0.2,
    })


def test_default_base_is_the_level_with_most_rows_not_the_first_alphabetically():
    df = pd.DataFrame({"area": ["A"] * 2 + ["C"] * 5 + ["B"] * 3})
    enc = FactorEncoder().fit(df)
    assert enc.base_levels_ == {"area": "C"}
    assert list(enc.get_feature_names_out()) == ["area=A", "area=B"]
    assert enc.level_weights_["area"] == {"A": 2.0, "B": 3.0, "C": 5.0}


def test_default_base_follows_exposure_when_given():
    df = pd.DataFrame({"area": ["A"] * 2 + ["C"] * 5 + ["B"] * 3})
    exposure = np.array([10.0, 10.0] + [0.1] * 5 + [1.0] * 3)
    enc = FactorEncoder().fit(df, sample_weight=exposure)
    assert enc.base_levels_["area"] == "A"
    assert enc.level_weights_["area"]["A"] == pytest.approx(20.0)


def test_ties_go_to_the_first_level_in_natural_order():
    df = pd.DataFrame({"band": [10, 10, 2, 2, 30]})
    enc = FactorEncoder(factors=["band"]).fit(df)
    # numeric-looking levels sort as numbers: 2 < 10 < 30, so 2 wins the tie
    assert enc.levels_["band"] == ["2", "10", "30"]
    assert enc.base_levels_["band"] == "2"


def test_explicit_base_levels_and_their_errors():
    df = _frame()
    enc = FactorEncoder(base_levels={"area": "D", "ncd": 3}).fit(df)
    assert enc.base_levels_["area"] == "D"
    assert enc.base_levels_["ncd"] == "3"
    assert "area=D" not in enc.get_feature_names_out()
    with pytest.raises(ValueError, match=r"base_levels\['area'\] = 'Z' is not a level"):
        FactorEncoder(base_levels={"area": "Z"}).fit(df)
    with pytest.raises(ValueError, match="base_levels names \\['age'\\], which are not factors"):
        FactorEncoder(factors=["area"], base_levels={"age": 30}).fit(df)
    with pytest.raises(TypeError, match="base_levels must be a dict"):
        FactorEncoder(base_levels=["A"]).fit(df)


def test_groups_one_per_factor_and_numeric_pass_through():
    df = _frame()
    enc = FactorEncoder(factors=["area", "ncd", "conviction"])
    Z = enc.fit_transform(df)
    names = list(enc.get_feature_names_out())
    assert Z.shape == (len(df), len(names)) == (len(df), len(enc.groups_))
    assert enc.factors_ == ["area", "ncd", "conviction"]
    assert enc.numeric_ == ["age"]
    for name, group in zip(names, enc.groups_):
        assert name == group or name.startswith(group + "=")
    np.testing.assert_array_equal(Z[:, names.index("age")], df["age"].to_numpy())
    assert enc.numeric_ranges_["age"] == (df["age"].min(), df["age"].max())
    # one-hot: each factor block has at most one 1 per row, and none exactly at the base level
    for factor in enc.factors_:
        cols = [i for i, g in enumerate(enc.groups_) if g == factor]
        block = Z[:, cols]
        assert set(np.unique(block)) <= {0.0, 1.0}
        at_base = df[factor].map(level_key) == enc.base_levels_[factor]
        np.testing.assert_array_equal(block.sum(axis=1), np.where(at_base, 0.0, 1.0))
        for i, col in enumerate(cols):
            level = names[col].split("=", 1)[1]
            np.testing.assert_array_equal(block[:, i], (df[factor].map(level_key) == level).to_numpy())


def test_default_factors_are_the_non_numeric_columns():
    df = _frame()
    df["band"] = pd.Categorical(np.where(df["age"] < 30, "young", "other"))
    enc = FactorEncoder().fit(df)
    assert enc.factors_ == ["area", "conviction", "band"]
    assert enc.numeric_ == ["ncd", "age"]
    assert enc.levels_["conviction"] == ["False", "True"]


def test_levels_match_on_canonical_text():
    fit = pd.DataFrame({"ncd": [0, 1, 2, 3, 3, 3]})
    enc = FactorEncoder(factors=["ncd"]).fit(fit)
    a = enc.transform(pd.DataFrame({"ncd": [1, 2, 3]}))
    b = enc.transform(pd.DataFrame({"ncd": [1.0, 2.0, 3.0]}))
    c = enc.transform(pd.DataFrame({"ncd": ["1", "2", "3"]}))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_unseen_levels_error_by_default_and_base_on_request():
    df = _frame()
    new = df.head(5).copy()
    new.loc[new.index[1], "area"] = "Z"
    enc = FactorEncoder().fit(df)
    with pytest.raises(ValueError, match=r"factor 'area' has 1 row\(s\) with levels not seen.*'Z'"):
        enc.transform(new)
    enc_base = FactorEncoder(handle_unknown="base").fit(df)
    with pytest.warns(UnseenLevelWarning, match="encoded as the base level 'B'"):
        Z = enc_base.transform(new)
    area_cols = [i for i, g in enumerate(enc_base.groups_) if g == "area"]
    assert np.all(Z[1, area_cols] == 0.0)
    with pytest.raises(ValueError, match="handle_unknown must be 'error' or 'base', got 'ignore'"):
        FactorEncoder(handle_unknown="ignore").fit(df)


def test_missing_values_and_bad_input_are_refused():
    df = _frame()
    bad = df.copy()
    bad.loc[3, "area"] = None
    with pytest.raises(ValueError, match="factor 'area' has missing values"):
        FactorEncoder().fit(bad)
    enc = FactorEncoder().fit(df)
    with pytest.raises(ValueError, match="factor 'area' has missing values at rows \\[3\\]"):
        enc.transform(bad)
    bad = df.copy()
    bad.loc[2, "age"] = np.nan
    with pytest.raises(ValueError, match="numeric column 'age' has NaN"):
        FactorEncoder().fit(bad)
    with pytest.raises(ValueError, match="numeric column 'age' has NaN"):
        enc.transform(bad)
    with pytest.raises(ValueError, match=r"X lacks the column\(s\) \['ncd'\]"):
        enc.transform(df.drop(columns="ncd"))
    with pytest.raises(ValueError, match="factors names 'zone', which is not a column"):
        FactorEncoder(factors=["zone"]).fit(df)
    with pytest.raises(ValueError, match="sample_weight: expected 300 values, got 2"):
        FactorEncoder().fit(df, sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        FactorEncoder().fit(df, sample_weight=-np.ones(len(df)))
    with pytest.raises(ValueError, match="no rows"):
        FactorEncoder().fit(df.head(0))
    with pytest.raises(ValueError, match="2-D"):
        FactorEncoder().fit(np.arange(4.0))


def test_colliding_output_names_are_refused():
    df = pd.DataFrame({"a": ["x", "y", "y"], "a=x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="output feature names collide"):
        FactorEncoder().fit(df)


def test_dict_structured_and_2d_inputs_match_the_dataframe():
    df = _frame(50)
    enc = FactorEncoder(factors=["area", "ncd"])
    Z = enc.fit_transform(df)
    cols = {c: df[c].to_numpy() for c in df.columns}
    np.testing.assert_array_equal(FactorEncoder(factors=["area", "ncd"]).fit_transform(cols), Z)
    records = df.to_records(index=False)
    np.testing.assert_array_equal(FactorEncoder(factors=["area", "ncd"]).fit_transform(records), Z)
    arr = df.to_numpy(dtype=object)
    enc2 = FactorEncoder(factors=[0, 1]).fit(arr)
    assert not hasattr(enc2, "feature_names_in_")
    assert enc2.factors_ == ["x0", "x1"]
    np.testing.assert_array_equal(enc2.transform(arr), Z)


def test_sparse_output_equals_dense():
    df = _frame()
    dense = FactorEncoder().fit_transform(df)
    sparse = FactorEncoder(sparse_output=True).fit_transform(df)
    assert sp.issparse(sparse) and sparse.format == "csc"
    np.testing.assert_array_equal(sparse.toarray(), dense)


def test_scikit_learn_conventions():
    enc = FactorEncoder(factors=["area"], base_levels={"area": "A"})
    assert clone(enc).get_params() == enc.get_params()
    df = _frame()
    out = FactorEncoder().set_output(transform="pandas").fit_transform(df)
    assert list(out.columns) == list(FactorEncoder().fit(df).get_feature_names_out())
    with pytest.raises(Exception, match="not fitted"):
        FactorEncoder().transform(df)


def test_groups_select_or_drop_whole_factors():
    rng = np.random.default_rng(3)
    n = 3000
    df = pd.DataFrame({
        "area": rng.choice(list("ABCDE"), n),
        "noise": rng.choice(list("pqrs"), n),
        "age": rng.uniform(-1, 1, n),
    })
    eta = -0.5 + df["area"].map({"A": 0, "B": 0.4, "C": -0.3, "D": 0.6, "E": 0.2}) + 0.3 * df["age"]
    y = rng.poisson(np.exp(eta)) * rng.gamma(2.0, 0.5, n)
    enc = FactorEncoder()
    X = enc.fit_transform(df)
    model = HDTweedie(power=1.5, groups=enc.groups_, n_lambdas=30).fit(X, y)
    groups = np.array(enc.groups_)
    dropped_noise_somewhere = False
    for k in range(model.lambdas_.size):
        for factor in enc.factors_:
            nonzero = model.coef_path_[groups == factor, k] != 0
            assert nonzero.all() or not nonzero.any()  # a factor is in or out as a whole
        area_in = np.any(model.coef_path_[groups == "area", k] != 0)
        noise_in = np.any(model.coef_path_[groups == "noise", k] != 0)
        dropped_noise_somewhere |= area_in and not noise_in
    assert dropped_noise_somewhere


def test_pipeline_with_hdtweedie():
    df = _frame(400)
    rng = np.random.default_rng(1)
    y = rng.gamma(1.0, 1.0, len(df)) * (rng.random(len(df)) < 0.5)
    pipe = make_pipeline(FactorEncoder(), HDTweedie(n_lambdas=10)).fit(df, y)
    pred = pipe.predict(df)
    direct = HDTweedie(n_lambdas=10).fit(FactorEncoder().fit_transform(df), y).predict(
        FactorEncoder().fit(df).transform(df))
    np.testing.assert_allclose(pred, direct, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.sampled_from(["north", "south", "east", "west", "7", "3.5"]), min_size=1, max_size=40),
    base_pick=st.integers(0, 10),
)
def test_encoding_is_invertible(data, base_pick):
    levels = sorted(set(data))
    base = levels[base_pick % len(levels)]
    df = pd.DataFrame({"region": data})
    enc = FactorEncoder(base_levels={"region": base})
    Z = enc.fit_transform(df)
    names = enc.get_feature_names_out()
    assert Z.shape[1] == len(levels) - 1
    decoded = [names[row.argmax()].split("=", 1)[1] if row.any() else base for row in Z]
    assert decoded == [level_key(v) for v in data]


def test_level_key_rules():
    assert level_key(3) == level_key(3.0) == level_key(np.int64(3)) == level_key("3") == "3"
    assert level_key(2.5) == "2.5"
    assert level_key(True) == "True" and level_key(np.bool_(False)) == "False"
    assert level_key(None) is None and level_key(float("nan")) is None and level_key(pd.NA) is None
    assert level_key(b"x") == "x"
    with pytest.raises(TypeError, match="scalar"):
        level_key([1, 2])


def test_no_warning_for_seen_levels():
    df = _frame()
    enc = FactorEncoder(handle_unknown="base").fit(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.transform(df)


def test_pandas_output_names_and_numpy_by_default():
    df = _frame()
    enc = FactorEncoder().fit(df)
    assert isinstance(enc.transform(df), np.ndarray)  # scikit-learn's convention without set_output
    out = FactorEncoder().set_output(transform="pandas").fit(df).transform(df)
    assert isinstance(out, pd.DataFrame)
    names = list(out.columns)
    assert names == list(enc.get_feature_names_out())
    assert names == ["area=A", "area=C", "area=D", "ncd", "age", "conviction=True"]
    assert [n.split("=", 1)[0] for n in names] == enc.groups_  # the factor is the text before "="
    assert out.index.equals(df.index)
    np.testing.assert_array_equal(out.to_numpy(), enc.transform(df))
    with pytest.raises(ValueError, match="[Ss]parse"):
        FactorEncoder(sparse_output=True).set_output(transform="pandas").fit_transform(df)


def test_pipeline_with_pandas_output_passes_the_names_on():
    df = _frame(400)
    rng = np.random.default_rng(1)
    y = rng.gamma(1.0, 1.0, len(df)) * (rng.random(len(df)) < 0.5)
    groups = FactorEncoder().fit(df).groups_
    pipe = make_pipeline(FactorEncoder(), HDTweedie(groups=groups, n_lambdas=10))
    pipe.set_output(transform="pandas").fit(df, y)
    enc, est = pipe.steps[0][1], pipe.steps[-1][1]
    assert list(est.feature_names_in_) == list(enc.get_feature_names_out())
    plain = make_pipeline(FactorEncoder(), HDTweedie(groups=groups, n_lambdas=10)).fit(df, y)
    np.testing.assert_allclose(pipe.predict(df), plain.predict(df), rtol=1e-12)


def test_codes_that_look_like_numbers_stay_text():
    df = pd.DataFrame({"district": ["01", "1", "1", "001", "2", "01"]})
    enc = FactorEncoder(base_levels={"district": "1"}).fit(df)
    assert enc.levels_["district"] == ["001", "01", "1", "2"]
    assert list(enc.get_feature_names_out()) == ["district=001", "district=01", "district=2"]
    Z = enc.transform(pd.DataFrame({"district": ["01", "1", "001"]}))
    np.testing.assert_array_equal(Z, [[0, 1, 0], [0, 0, 0], [1, 0, 0]])
    # numbers are still the same level as their text
    np.testing.assert_array_equal(enc.transform(pd.DataFrame({"district": [1, 2.0]})), [[0, 0, 0], [0, 0, 1]])


def test_level_order_does_not_depend_on_the_order_seen():
    from hdtweedie.scoring._levels import sort_levels

    assert sort_levels(["1", "01", "001"]) == sort_levels(["001", "01", "1"]) == ["001", "01", "1"]
    assert sort_levels(["10", "9", "x"]) == ["10", "9", "x"]  # text as soon as one level is not a number
    assert sort_levels(["10", "9", "-1"]) == ["-1", "9", "10"]
    a = FactorEncoder().fit(pd.DataFrame({"d": ["1", "01"]})).levels_["d"]
    b = FactorEncoder().fit(pd.DataFrame({"d": ["01", "1"]})).levels_["d"]
    assert a == b == ["01", "1"]
