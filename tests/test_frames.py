"""polars DataFrames and Arrow tables everywhere a pandas DataFrame is accepted, with the same results."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")

from sklearn.pipeline import make_pipeline  # noqa: E402

from hdtweedie import FactorEncoder, HDTweedie, HDTweedieCV, TweedieGLM, profile_power  # noqa: E402
from hdtweedie import diagnostics as dg  # noqa: E402
from hdtweedie._frames import frame_kind, to_pandas  # noqa: E402
from hdtweedie.inference import coef_table, unpenalised_fit  # noqa: E402
from hdtweedie.scoring import load_model  # noqa: E402


def _numeric(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.uniform(18, 80, n), "power_kw": rng.normal(size=n),
                      "density": rng.gamma(2.0, 1.0, n)})
    w = rng.uniform(0.2, 1.0, n)
    mu = w * np.exp(-1 + 0.01 * X["age"].to_numpy() + 0.3 * X["power_kw"].to_numpy())
    y = rng.poisson(mu) * rng.gamma(2.0, 0.5, n)
    return X, y, w


def _factors(n=300, seed=1):
    rng = np.random.default_rng(seed)
    area = rng.choice(["C", "A", "B"], n)
    vehicle = rng.choice(["van", "hatch", "suv"], n)
    return pd.DataFrame({
        "area": area,
        "band": pd.Categorical(rng.choice(["low", "mid", "high"], n),
                               categories=["low", "mid", "high"], ordered=True),
        "vehicle": pd.Categorical(vehicle),
        "age": rng.uniform(18, 80, n),
    })


def _polars(df):
    """The polars twin of a pandas frame: ordered categoricals as Enum, others as Categorical."""
    cols = {}
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            dtype = pl.Enum(list(s.cat.categories)) if s.cat.ordered else pl.Categorical
            cols[c] = pl.Series(c, s.astype(object).where(s.notna(), None).tolist(), dtype=dtype)
        else:  # missing values become nulls
            cols[c] = pl.from_pandas(df[[c]])[c]
    return pl.DataFrame(cols)


def _arrow(df):
    return pa.Table.from_pandas(df, preserve_index=False)


SRC = Path(__file__).resolve().parents[1] / "src"
FOREIGN = {"polars": _polars, "arrow": _arrow}
SERIES = {"polars": pl.Series, "arrow": lambda v: pa.chunked_array([np.asarray(v)])}


# -- the bridge ----------------------------------------------------------------------------------

def test_frame_kind_reads_the_type_module_only():
    X, _, _ = _numeric(5)
    assert frame_kind(X) == "pandas"
    assert frame_kind(_polars(X)) == "polars"
    assert frame_kind(_arrow(X)) == "arrow"
    assert frame_kind(_arrow(X).to_batches()[0]) == "arrow"
    assert frame_kind(X.to_numpy()) is None


def test_polars_categorical_levels_in_polars_order_and_enum_keeps_its_order():
    df = pl.DataFrame({"c": pl.Series(["b", "a", "b"], dtype=pl.Categorical),
                       "e": pl.Series(["y", "z", "y"], dtype=pl.Enum(["z", "y", "x"]))})
    out = to_pandas(df)
    # polars sorts a Categorical by its text: the levels are read in that order
    assert list(out["c"].cat.categories) == ["a", "b"] and not out["c"].cat.ordered
    assert list(out["e"].cat.categories) == ["z", "y", "x"] and out["e"].cat.ordered
    assert out["c"].tolist() == ["b", "a", "b"]


def test_lazy_frame_is_refused_with_advice(scored):
    lazy = pl.LazyFrame({"a": [1.0, 2.0]})
    with pytest.raises(TypeError, match=r"X: a polars LazyFrame must be collected"):
        HDTweedie().fit(lazy, [1.0, 0.0])
    with pytest.raises(TypeError, match=r"X: a polars LazyFrame must be collected"):
        FactorEncoder().fit(lazy)
    with pytest.raises(TypeError, match=r"X: a polars LazyFrame must be collected"):
        scored[0].predict(lazy)
    with pytest.raises(TypeError, match=r"data: a polars LazyFrame must be collected"):
        dg.actual_vs_expected(lazy, "a", [1.0, 1.0], [1.0, 1.0])


# -- estimators ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_hdtweedie_fit_predict_equal_pandas_with_names(kind):
    X, y, w = _numeric()
    ref = HDTweedie(n_lambdas=20).fit(X, y, sample_weight=w, offset=np.log(w))
    Xf = FOREIGN[kind](X)
    est = HDTweedie(n_lambdas=20).fit(Xf, SERIES[kind](y), sample_weight=SERIES[kind](w),
                                      offset=SERIES[kind](np.log(w)))
    assert list(est.feature_names_in_) == ["age", "power_kw", "density"]
    np.testing.assert_array_equal(est.coef_path_, ref.coef_path_)
    np.testing.assert_array_equal(est.predict(Xf, offset=SERIES[kind](np.log(w))),
                                  ref.predict(X, offset=np.log(w)))
    assert est.score(Xf, SERIES[kind](y), offset=SERIES[kind](np.log(w))) == ref.score(X, y, offset=np.log(w))


def test_all_float_polars_frame_is_accepted():
    # every column Float64: once refused as "dates or durations"
    X, y, _ = _numeric()
    est = HDTweedie(n_lambdas=5).fit(pl.from_pandas(X), y)
    assert est.n_features_in_ == 3


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_predict_checks_the_column_names(kind):
    X, y, _ = _numeric()
    est = HDTweedie(n_lambdas=5).fit(FOREIGN[kind](X), y)
    swapped = X[["power_kw", "age", "density"]]
    with pytest.raises(ValueError, match="same order") as ref:
        est.predict(swapped)
    with pytest.raises(ValueError) as got:
        est.predict(FOREIGN[kind](swapped))
    assert str(got.value) == str(ref.value)


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_cv_and_glm_equal_pandas(kind):
    X, y, w = _numeric()
    Xf, yf = FOREIGN[kind](X), SERIES[kind](y)
    ref = HDTweedieCV(n_lambdas=10, n_folds=3, random_state=0).fit(X, y, sample_weight=w)
    cv = HDTweedieCV(n_lambdas=10, n_folds=3, random_state=0).fit(Xf, yf, sample_weight=SERIES[kind](w))
    assert list(cv.feature_names_in_) == list(X.columns)
    np.testing.assert_array_equal(cv.cv_mean_, ref.cv_mean_)
    np.testing.assert_array_equal(cv.predict(Xf), ref.predict(X))
    g_ref = TweedieGLM().fit(X, y, sample_weight=w)
    glm = TweedieGLM().fit(Xf, yf, sample_weight=SERIES[kind](w))
    assert list(glm.feature_names_in_) == list(X.columns)
    np.testing.assert_allclose(glm.coef_, g_ref.coef_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(glm.predict(Xf), g_ref.predict(X), rtol=1e-12, atol=0)
    t_ref = g_ref.coef_table(X, y, sample_weight=w)
    t = glm.coef_table(Xf, yf, sample_weight=SERIES[kind](w))
    pd.testing.assert_frame_equal(t, t_ref, rtol=1e-12)


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_unpenalised_fit_reads_frames(kind):
    X, y, w = _numeric()
    glm = TweedieGLM().fit(X, y)
    ref = coef_table(unpenalised_fit(X, y, power=1.5, intercept=glm.intercept_, coef=glm.coef_))
    got = coef_table(unpenalised_fit(FOREIGN[kind](X), SERIES[kind](y), power=1.5,
                                     intercept=glm.intercept_, coef=glm.coef_))
    pd.testing.assert_frame_equal(got, ref, rtol=1e-12)


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_power_profile_equals_pandas(kind):
    X, y, w = _numeric()
    ref = profile_power(X, y, powers=[1.3, 1.6], sample_weight=w, refine=False)
    got = profile_power(FOREIGN[kind](X), SERIES[kind](y), powers=[1.3, 1.6], sample_weight=SERIES[kind](w),
                        refine=False)
    np.testing.assert_array_equal(got.loglik, ref.loglik)
    assert got.power == ref.power


def test_pipeline_with_polars_output_groups_factors_by_name():
    df = _factors()
    y = np.random.default_rng(2).gamma(1.0, 1.0, len(df))
    ref, got = (make_pipeline(FactorEncoder().set_output(transform=out),
                              HDTweedie(groups="factor", n_lambdas=8)) for out in ("pandas", "polars"))
    ref.fit(df, y)
    got.fit(_polars(df), pl.Series(y))
    assert list(got[-1].feature_names_in_) == list(ref[-1].feature_names_in_)
    np.testing.assert_array_equal(got.predict(_polars(df)), ref.predict(df))


def _error(fn):
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    return type(info.value), str(info.value)


def test_polars_nulls_get_the_pandas_missing_value_error():
    X, y, _ = _numeric(20)
    Xn = X.copy()
    Xn.loc[3, "age"] = np.nan
    ref = _error(lambda: HDTweedie().fit(Xn, y))
    with_null = pl.from_pandas(X).with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("age")).alias("age"))
    assert with_null["age"].null_count() == 1
    assert _error(lambda: HDTweedie().fit(with_null, y)) == ref
    assert _error(lambda: HDTweedie().fit(_arrow(Xn), y)) == ref
    # a null in y, in the weights or in the offset: as a NaN there
    y_null = pl.Series(y).scatter(2, None)
    y_nan = np.r_[y[:2], np.nan, y[3:]]
    assert _error(lambda: HDTweedie().fit(X, y_null)) == _error(lambda: HDTweedie().fit(X, y_nan))
    w_null = pa.chunked_array([pa.array([1.0] * 19 + [None])])
    assert _error(lambda: HDTweedie().fit(X, y, sample_weight=w_null)) == \
        _error(lambda: HDTweedie().fit(X, y, sample_weight=np.r_[np.ones(19), np.nan]))


def test_non_numeric_polars_columns_get_the_pandas_message():
    X, y, _ = _numeric(20)
    Xs = X.assign(area=["a", "b"] * 10)
    ref = _error(lambda: HDTweedie().fit(Xs, y))
    assert "encode rating factors first" in ref[1]
    assert _error(lambda: HDTweedie().fit(pl.from_pandas(Xs), y)) == ref
    Xd = X.assign(start=pd.date_range("2024-01-01", periods=20))
    ref = _error(lambda: HDTweedie().fit(Xd, y))
    assert _error(lambda: HDTweedie().fit(pl.from_pandas(Xd), y)) == ref


def test_dates_in_polars_and_arrow_series_are_refused_as_in_pandas():
    X, y, _ = _numeric(20)
    days = pd.Series(pd.date_range("2024-01-01", periods=20))
    for value in (pl.Series(days), pa.chunked_array([pa.array(days)]), pa.array(days),
                  pl.Series(days - days[0])):
        for name, kwargs in (("y", {"y": value}), ("sample_weight", {"y": y, "sample_weight": value}),
                             ("offset", {"y": y, "offset": value})):
            with pytest.raises(TypeError, match=rf"^{name}: values of dtype .* are dates or durations"):
                HDTweedie().fit(X, **kwargs)


def test_frames_with_dtypes_that_have_no_kind_code_are_not_taken_for_dates():
    from hdtweedie._checks import refuse_datetime

    refuse_datetime(pl.DataFrame({"a": [1.0, 2.0], "b": [3, 4]}), "X")  # no error


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_the_callers_frame_is_not_changed(kind):
    X, y, w = _numeric()
    Xf = FOREIGN[kind](X)
    before = Xf.clone() if kind == "polars" else Xf.to_pydict()
    yf = SERIES[kind](y)
    HDTweedie(n_lambdas=5).fit(Xf, yf, sample_weight=SERIES[kind](w)).predict(Xf)
    FactorEncoder().fit_transform(Xf)
    if kind == "polars":
        assert Xf.equals(before) and Xf.schema == before.schema
    else:
        assert Xf.to_pydict() == before
    np.testing.assert_array_equal(np.asarray(yf), y)


# -- the encoder ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["polars", "arrow"])
@pytest.mark.parametrize("sparse", [False, True])
def test_encoder_equals_pandas(kind, sparse):
    df = _factors()
    w = np.random.default_rng(4).uniform(0.1, 1.0, len(df))  # exposure picks the base levels
    ref = FactorEncoder(sparse_output=sparse).fit(df, sample_weight=w)
    Xf = FOREIGN[kind](df)
    enc = FactorEncoder(sparse_output=sparse).fit(Xf, sample_weight=SERIES[kind](w))
    assert enc.level_weights_ == ref.level_weights_
    assert list(enc.feature_names_in_) == list(df.columns)
    assert enc.factors_ == ref.factors_ == ["area", "band", "vehicle"]
    assert enc.levels_ == ref.levels_ and enc.base_levels_ == ref.base_levels_
    assert list(enc.get_feature_names_out()) == list(ref.get_feature_names_out())
    a, b = enc.transform(Xf), ref.transform(df)
    if sparse:
        a, b = a.toarray(), b.toarray()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["polars", "arrow"])
@pytest.mark.parametrize("column", ["area", "vehicle", "band"])
def test_encoder_missing_level_error_as_pandas(kind, column):
    # text, Categorical (a dictionary column in Arrow) and Enum columns with one missing value
    df = _factors(20)
    df_nan = df.copy()
    df_nan.loc[4, column] = None
    assert df_nan[column].isna().sum() == 1
    ref = _error(lambda: FactorEncoder().fit(df_nan))
    assert "missing" in ref[1]
    assert _error(lambda: FactorEncoder().fit(FOREIGN[kind](df_nan))) == ref
    enc = FactorEncoder().fit(df)
    ref = _error(lambda: enc.transform(df_nan))
    assert _error(lambda: enc.transform(FOREIGN[kind](df_nan))) == ref


def test_arrow_record_batch_and_dictionary_columns():
    df = _factors()
    ref = FactorEncoder().fit(df)
    batch = pa.RecordBatch.from_pandas(df, preserve_index=False)
    assert pa.types.is_dictionary(batch.schema.field("vehicle").type)
    enc = FactorEncoder().fit(batch)
    assert enc.levels_ == ref.levels_
    np.testing.assert_array_equal(enc.transform(batch), ref.transform(df))


def test_arrow_tables_with_a_repeated_column_name_are_refused():
    table = pa.table([pa.array([1.0, 2.0, 3.0]), pa.array([4.0, 5.0, 6.0])], names=["a", "a"])
    with pytest.raises(ValueError, match=r"X: column names must be unique, got \['a', 'a'\]"):
        HDTweedie().fit(table, [1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match=r"X: column names must be unique"):
        FactorEncoder().fit(table)


# -- the scorer ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    df = _factors(400, seed=3)
    rng = np.random.default_rng(3)
    exposure = rng.uniform(0.3, 1.0, len(df))
    enc = FactorEncoder().fit(df, sample_weight=exposure)
    eta = (df["area"].map({"A": -0.5, "B": 0.0, "C": 0.6}).astype(float)
           + df["vehicle"].map({"hatch": 0, "suv": 0.7, "van": -0.4}).astype(float)
           + df["band"].map({"low": -0.4, "mid": 0, "high": 0.5}).astype(float) + 0.02 * (df["age"] - 50))
    y = rng.poisson(exposure * np.exp(eta.to_numpy())) * rng.gamma(2.0, 0.5, len(df))
    est = HDTweedieCV(groups=enc.groups_, n_lambdas=10, n_folds=3, random_state=0, select="lambda_min")
    est.fit(enc.transform(df), y, offset=np.log(exposure))
    path = tmp_path_factory.mktemp("frames") / "model.json"
    est.export(path, model_id="frames", version="1", encoder=enc)
    return load_model(path), df.assign(exposure=exposure)


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_scoring_predict_and_explain_equal_pandas(scored, kind):
    model, df = scored
    ref = model.predict(df, exposure="exposure")
    got = model.predict(FOREIGN[kind](df), exposure="exposure")
    np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
    got = model.predict(FOREIGN[kind](df), exposure=SERIES[kind](df["exposure"].to_numpy()))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
    one = df.iloc[[7]]
    assert model.explain(FOREIGN[kind](one), exposure="exposure") == model.explain(one, exposure="exposure")


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_scoring_compare_design_and_intervals_equal_pandas(scored, kind):
    model, df = scored
    a, b = df.iloc[[3]], df.iloc[[8]]
    fa, fb = FOREIGN[kind](a), FOREIGN[kind](b)
    assert model.compare(fa, fb, exposure_a="exposure") == model.compare(a, b, exposure_a="exposure")
    np.testing.assert_array_equal(model.design_matrix(FOREIGN[kind](df)), model.design_matrix(df))
    df = df.iloc[:40]  # intervals invert a distribution per row: a few rows suffice
    got = model.predict_interval(FOREIGN[kind](df), exposure="exposure")
    ref = model.predict_interval(df, exposure="exposure")
    np.testing.assert_array_equal(got.lower, ref.lower)
    np.testing.assert_array_equal(got.upper, ref.upper)


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_scoring_flags_nulls_as_pandas_missing_values(scored, kind):
    model, df = scored
    holes = df.astype({"area": object, "vehicle": object, "band": object})
    holes.loc[2, "area"] = None
    holes.loc[5, "vehicle"] = None
    holes.loc[6, "band"] = None
    holes.loc[9, "age"] = np.nan
    ref = model.predict(holes, exposure="exposure", errors="flag", warn=False)
    frame = FOREIGN[kind](holes)
    if kind == "arrow":  # the factor columns as dictionary arrays with nulls
        frame = frame.set_column(frame.schema.get_field_index("vehicle"), "vehicle",
                                 frame.column("vehicle").dictionary_encode())
        assert frame.column("vehicle").null_count == 1
    got = model.predict(frame, exposure="exposure", errors="flag", warn=False)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
    np.testing.assert_array_equal(got.flagged, ref.flagged)
    assert np.flatnonzero(got.flagged).tolist() == [2, 5, 6, 9]


def test_scorer_imports_neither_polars_nor_pyarrow_for_plain_records():
    code = textwrap.dedent("""
        import sys
        import hdtweedie.scoring._inputs as inputs
        kind, cols, n = inputs.read_table({"a": [1.0, 2.0]}, ("a",))
        assert n == 2
        assert "polars" not in sys.modules and "pyarrow" not in sys.modules, sorted(sys.modules)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(SRC)})
    assert out.stdout.strip() == "ok", out.stderr


# -- diagnostics ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_diagnostics_equal_pandas(kind):
    df = _factors(300, seed=5)
    rng = np.random.default_rng(5)
    e = rng.uniform(0.2, 1.0, len(df))
    m = e * rng.uniform(0.1, 0.5, len(df))
    a = rng.poisson(m) * 1.0
    b = m * rng.uniform(0.8, 1.2, len(df))
    data = df.assign(actual=a, expected=m, exposure=e)
    ref = dg.actual_vs_expected(data, ["area", "band", "vehicle", "age"], "actual", "expected", "exposure")
    got = dg.actual_vs_expected(FOREIGN[kind](data), ["area", "band", "vehicle", "age"], "actual",
                                "expected", "exposure")
    for col in ref:
        pd.testing.assert_frame_equal(got[col], ref[col], check_exact=True)
    S = SERIES[kind]
    got = dg.actual_vs_expected(FOREIGN[kind](df), "vehicle", S(a), S(m), S(e))
    pd.testing.assert_frame_equal(got, ref["vehicle"], check_exact=True)
    pd.testing.assert_frame_equal(dg.lift_table(S(a), S(m), S(e)), dg.lift_table(a, m, e), check_exact=True)
    pd.testing.assert_frame_equal(dg.double_lift_table(S(a), S(m), S(b), S(e)),
                                  dg.double_lift_table(a, m, b, e), check_exact=True)
    pd.testing.assert_frame_equal(dg.lorenz_curve(S(a), S(m), S(e)), dg.lorenz_curve(a, m, e),
                                  check_exact=True)
    assert dg.gini(S(a), S(m), S(e)) == dg.gini(a, m, e)
    assert dg.normalized_gini(S(a), S(m), S(e)) == dg.normalized_gini(a, m, e)
    np.testing.assert_array_equal(dg.residuals(S(a), S(m), 1.5, sample_weight=S(e)),
                                  dg.residuals(a, m, 1.5, sample_weight=e))


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_diagnostics_missing_by_level_as_pandas(kind):
    df = _factors(30).astype({"area": object})
    df.loc[[1, 4], "area"] = None
    a, m = np.ones(30), np.ones(30)
    ref = _error(lambda: dg.actual_vs_expected(df, "area", a, m))
    assert "missing" in ref[1]
    assert _error(lambda: dg.actual_vs_expected(FOREIGN[kind](df), "area", a, m)) == ref
    assert _error(lambda: dg.lift_table(SERIES[kind](np.r_[np.nan, a[1:]]), m)) == \
        _error(lambda: dg.lift_table(np.r_[np.nan, a[1:]], m))


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_factor_chart_data_equals_pandas(scored, kind):
    from hdtweedie.charts import factor_chart_data

    model, df = scored
    data = df.assign(actual=np.asarray(model.predict(df, exposure=df["exposure"]), dtype=float) * 1.1)
    ref = factor_chart_data(model, data, "actual", "exposure")
    got = factor_chart_data(model, FOREIGN[kind](data), "actual", "exposure")
    assert list(got) == list(ref)
    for name in ref:
        pd.testing.assert_frame_equal(got[name], ref[name])
