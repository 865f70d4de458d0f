"""Inference on unpenalised fits against R's glm (validation/glm) and statsmodels."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from hdtweedie import HDTweedie, HDTweedieCV
from hdtweedie._glm import TweedieGLM
from hdtweedie.inference import (
    coef_table,
    factor_tests,
    fit_statistics,
    penalised_solution,
    unpenalised_fit,
)

HERE = Path(__file__).resolve().parent.parent / "validation" / "glm"
REF = json.loads((HERE / "reference.json").read_text())
DATA = pd.read_csv(HERE / "data.csv")
RESPONSE = {"1": "y_p1", "1.5": "y_p15", "2": "y_p2"}
POWERS = ["1", "1.5", "2"]


def _r_case(key, weighted=True):
    X = DATA[REF["features"]]
    y = DATA[RESPONSE[key]].to_numpy()
    w = DATA["weight"].to_numpy() if weighted else None
    off = DATA["offset"].to_numpy()
    model = TweedieGLM(power=float(key), groups=REF["groups"]).fit(X, y, w, off)
    return model, (X, y, w, off), REF["fits"][key]


def _rel(a, b):
    return np.max(np.abs(np.asarray(a, dtype=float) / np.asarray(b, dtype=float) - 1))


# -- against R ---------------------------------------------------------------------------------
@pytest.mark.parametrize("key", POWERS)
def test_coef_table_equals_r_summary(key):
    model, data, ref = _r_case(key)
    table = model.coef_table(*data)
    assert list(table.index) == ["intercept", *REF["features"]]
    np.testing.assert_allclose(table["coef"], ref["coef"], rtol=0, atol=1e-8)
    assert _rel(table["se"], ref["se"]) < 1e-6
    assert _rel(table["z_value"], ref["stat"]) < 1e-6
    # R prints Pr(>|t|) when the dispersion is estimated (p > 1) and Pr(>|z|) for Poisson.
    assert _rel(table["p_value"], ref["p_value"]) < 1e-6
    assert table.attrs["distribution"] == ("normal" if key == "1" else f"t({ref['df_residual']})")
    assert abs(table.attrs["dispersion"] / ref["dispersion"] - 1) < 1e-6


@pytest.mark.parametrize("key", POWERS)
def test_robust_errors_equal_r_sandwich_hc0(key):
    model, data, ref = _r_case(key)
    assert _rel(model.coef_table(*data, robust=True)["se"], ref["se_hc0"]) < 1e-6


def test_quasi_poisson_equals_r():
    model, data, ref = _r_case("1")
    table = model.coef_table(*data, dispersion="pearson")
    assert _rel(table["se"], ref["quasi"]["se"]) < 1e-6
    assert abs(table.attrs["dispersion"] / ref["quasi"]["dispersion"] - 1) < 1e-6


@pytest.mark.parametrize("key", POWERS)
def test_fit_statistics_equal_r(key):
    model, data, ref = _r_case(key)
    fs = model.fit_statistics(*data)
    assert abs(fs["deviance"] / ref["deviance"] - 1) < 1e-10
    assert abs(fs["null_deviance"] / ref["null_deviance"] - 1) < 1e-10
    assert fs["df_resid"] == ref["df_residual"]
    assert abs(fs["dispersion"] / ref["dispersion"] - 1) < 1e-6
    assert abs(fs["deviance_per_df"] - ref["deviance"] / ref["df_residual"]) < 1e-8
    assert abs(fs["d2"] - (1 - ref["deviance"] / ref["null_deviance"])) < 1e-10
    assert abs(fs["aic"] - ref["aic"]) < 1e-6
    assert abs(fs["loglik"] - ref["loglik"]) < 1e-6
    if key == "1.5":
        assert abs(fs["loglik_dispersion"] / ref["phi_ml"] - 1) < 1e-6
        assert fs["n_params_aic"] == 8


def test_tweedie_aic_with_unit_weights_equals_tweedie_package():
    model, data, ref = _r_case("1.5", weighted=False)
    unit = ref["unit_weights"]
    np.testing.assert_allclose(np.r_[model.intercept_, model.coef_], unit["coef"], atol=1e-8)
    fs = model.fit_statistics(*data)
    assert abs(fs["loglik_dispersion"] / unit["phi_ml"] - 1) < 1e-6
    # tweedie_AIC at a given phi does not count phi as a parameter.
    assert abs(fs["aic"] - (unit["aic_tweedie_package_at_phi_ml"] + 2)) < 1e-6


@pytest.mark.parametrize("key", POWERS)
def test_factor_tests_equal_r_anova_and_drop1(key):
    model, data, ref = _r_case(key)
    tests = model.factor_tests(*data)
    assert list(tests.index) == ["area", "vehicle", "age"]
    full = ref["deviance"]
    for term, dev_without in zip(ref["drop1"]["term"], ref["drop1"]["deviance"]):
        row, r = tests.loc[term], ref["anova"][term]
        assert row["lr_df"] == r["df"] == row["wald_df"]
        assert abs(row["deviance_change"] / r["deviance_change"] - 1) < 1e-6
        assert abs(row["deviance_change"] - (dev_without - full)) < 1e-6
        assert abs(row["lr_statistic"] / r["statistic"] - 1) < 1e-6
        assert abs(row["lr_p_value"] / r["p_value"] - 1) < 1e-6
        assert row["lr_test"] == ("chi2" if key == "1" else "F")
    if key == "1":  # drop1(test = "Chisq") is the same LR test
        np.testing.assert_allclose(tests["lr_p_value"], ref["drop1"]["p_value"], rtol=1e-6)


def test_wald_test_of_one_column_is_z_squared():
    model, data, _ = _r_case("1.5")
    table, tests = model.coef_table(*data), model.factor_tests(*data)
    assert abs(tests.loc["age", "wald_statistic"] - table.loc["age", "z_value"] ** 2) < 1e-10
    cov = model.covariance_matrix(*data)
    idx = ["area=B", "area=C", "area=D"]
    b = table.loc[idx, "coef"].to_numpy()
    wald = b @ np.linalg.solve(cov.loc[idx, idx].to_numpy(), b)
    assert abs(tests.loc["area", "wald_statistic"] - wald) < 1e-10
    assert abs(tests.loc["area", "wald_p_value"] - stats.chi2.sf(wald, 3)) < 1e-12


# -- against statsmodels -----------------------------------------------------------------------
def _sm(X, y, w, off, power, family=None, **fit):
    fam = family or (sm.families.Poisson() if power == 1 else
                     sm.families.Tweedie(var_power=power, link=sm.families.links.Log()))
    return sm.GLM(y, sm.add_constant(np.asarray(X)), family=fam, var_weights=w, offset=off).fit(
        tol=1e-14, maxiter=200, **fit)


@pytest.mark.parametrize("key", POWERS)
def test_equals_statsmodels(key):
    model, (X, y, w, off), _ = _r_case(key)
    table = model.coef_table(X, y, w, off)
    res = _sm(X, y, w, off, float(key), use_t=key != "1")
    np.testing.assert_allclose(table["coef"], res.params, rtol=0, atol=1e-8)
    assert _rel(table["se"], res.bse) < 1e-6
    assert abs(table.attrs["dispersion"] / res.scale - 1) < 1e-6
    assert _rel(table["p_value"], res.pvalues) < 1e-6
    ci = res.conf_int(0.05)
    assert _rel(table["ci_lower"], ci[:, 0]) < 1e-6 and _rel(table["ci_upper"], ci[:, 1]) < 1e-6


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' deviance at y = 0
def test_quasi_poisson_equals_statsmodels_tweedie_power_one():
    model, (X, y, w, off), _ = _r_case("1")
    table = model.coef_table(X, y, w, off, dispersion="pearson")
    fam = sm.families.Tweedie(var_power=1, link=sm.families.links.Log())
    res = _sm(X, y, w, off, 1, family=fam)
    assert _rel(table["se"], res.bse) < 1e-6 and abs(table.attrs["dispersion"] / res.scale - 1) < 1e-6


@pytest.mark.parametrize("key", POWERS)
def test_robust_equals_statsmodels_sandwich_with_expected_information(key):
    """statsmodels' cov_type="HC0" uses the observed Hessian as bread; R's sandwich (and this
    package) the expected information.  They agree at the canonical link (p = 1); elsewhere
    the statsmodels pieces with the expected information give ours.  No scale enters."""
    model, (X, y, w, off), _ = _r_case(key)
    se = model.coef_table(X, y, w, off, robust=True)["se"].to_numpy()
    res = _sm(X, y, w, off, float(key))
    scores = res.model.score_obs(res.params, scale=res.scale)
    bread = np.linalg.inv(-res.model.hessian(res.params, scale=res.scale, observed=False))
    assert _rel(se, np.sqrt(np.diag(bread @ scores.T @ scores @ bread))) < 1e-6
    if key == "1":
        assert _rel(se, _sm(X, y, w, off, 1.0, cov_type="HC0").bse) < 1e-6


# -- the table itself --------------------------------------------------------------------------
def test_relativities_intervals_and_known_dispersion():
    model, data, _ = _r_case("1.5")
    t95 = model.coef_table(*data)
    t80 = model.coef_table(*data, confidence_level=0.8)
    np.testing.assert_allclose(t95["relativity"], np.exp(t95["coef"]))
    np.testing.assert_allclose(t95["relativity_lower"], np.exp(t95["ci_lower"]))
    assert np.all(t80["ci_upper"] - t80["ci_lower"] < t95["ci_upper"] - t95["ci_lower"])
    q = stats.t.ppf(0.975, t95.attrs["distribution"] and int(t95.attrs["distribution"][2:-1]))
    np.testing.assert_allclose(t95["ci_upper"] - t95["coef"], q * t95["se"], rtol=1e-12)
    known = model.coef_table(*data, dispersion=4.0)
    np.testing.assert_allclose(known["se"] / t95["se"], np.sqrt(4.0 / t95.attrs["dispersion"]))
    assert known.attrs["distribution"] == "normal" and not known.attrs["dispersion_estimated"]
    np.testing.assert_allclose(known["p_value"], 2 * stats.norm.sf(np.abs(known["z_value"])))
    cov = model.covariance_matrix(*data)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), t95["se"], rtol=1e-12)
    np.testing.assert_allclose(cov.to_numpy(), cov.to_numpy().T, rtol=1e-12)


def test_likelihood_undefined_cases_are_none():
    model, (X, y, w, off), _ = _r_case("1")
    fs = model.fit_statistics(X, y, w, off, dispersion="pearson")
    assert fs["loglik"] is None and fs["aic"] is None and fs["dispersion_estimated"]
    frac = y + 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        fs = TweedieGLM(power=1).fit(X, frac, w, off).fit_statistics(X, frac, w, off)
    assert fs["loglik"] is None and fs["aic"] is None
    model2, data2, _ = _r_case("2")
    fs = model2.fit_statistics(*data2, dispersion=0.9)
    assert fs["n_params_aic"] == 7 and fs["loglik_dispersion"] == 0.9


def test_ungrouped_model_tests_each_column():
    model, (X, y, w, off), _ = _r_case("1.5")
    plain = TweedieGLM(power=1.5).fit(X, y, w, off)
    tests = plain.factor_tests(X, y, w, off)
    assert list(tests.index) == REF["features"] and np.all(tests["wald_df"] == 1)


# -- plain functions (model file plus data) ----------------------------------------------------
def test_plain_functions_with_an_active_subset():
    _, (X, y, w, off), _ = _r_case("1.5")
    sub = TweedieGLM(power=1.5).fit(X[["area=B", "area=C", "area=D", "age"]], y, w, off)
    coef = np.zeros(6)
    coef[[0, 1, 2, 5]] = sub.coef_
    fit = unpenalised_fit(X.to_numpy(), y, w, off, power=1.5, intercept=sub.intercept_, coef=coef,
                          active=np.array([1, 1, 1, 0, 0, 1], dtype=bool),
                          feature_names=REF["features"], groups=REF["groups"])
    direct = sub.coef_table(X[["area=B", "area=C", "area=D", "age"]], y, w, off)
    table = coef_table(fit)
    assert list(table.index) == ["intercept", "area=B", "area=C", "area=D", "age"]
    np.testing.assert_allclose(table.to_numpy(), direct.to_numpy(), rtol=1e-12)
    assert list(factor_tests(fit).index) == ["area", "age"]
    assert fit_statistics(fit)["n_params"] == 5
    with pytest.raises(ValueError, match="zero outside the active"):
        unpenalised_fit(X, y, w, off, power=1.5, intercept=0.0, coef=np.ones(6),
                        active=np.array([1, 1, 1, 0, 0, 1], dtype=bool))
    with pytest.raises(ValueError, match="coef has 5 values"):
        unpenalised_fit(X, y, w, off, power=1.5, intercept=0.0, coef=np.ones(5))
    with pytest.raises(TypeError, match="active must be a boolean"):
        unpenalised_fit(X, y, w, off, power=1.5, intercept=0.0, coef=coef, active=[0, 1, 2])


def test_data_the_model_was_not_fitted_on_is_refused():
    model, (X, y, w, off), _ = _r_case("1.5")
    with pytest.raises(ValueError, match="not the maximum-likelihood fit"):
        model.coef_table(X, y * 1.5 + 1, w, off)
    with pytest.raises(ValueError, match="not the maximum-likelihood fit"):
        model.coef_table(X, y, None, off)


def test_singular_active_design_names_the_columns():
    _, (X, y, w, off), _ = _r_case("1.5")
    Xd = X.assign(dup=X["age"] * 2)
    with pytest.raises(ValueError, match=r"'dup' = combination of \['age'\]"):
        unpenalised_fit(Xd, y, w, off, power=1.5, intercept=0.0, coef=np.zeros(7),
                        feature_names=list(Xd.columns))


# -- the hook for the lasso estimators ---------------------------------------------------------
_CV, _Path = HDTweedieCV, HDTweedie


def _portfolio(n=3000):
    from hdtweedie import FactorEncoder
    from hdtweedie.datasets import make_motor_portfolio

    df = make_motor_portfolio(n, random_state=1)
    factors = ["area", "ncd_years", "vehicle_group", "driver_age", "conviction", "vehicle_colour"]
    enc = FactorEncoder().fit(df[factors], sample_weight=df["exposure"])
    X = pd.DataFrame(enc.transform(df[factors]), columns=enc.get_feature_names_out())
    return X, df["incurred"].to_numpy(), np.log(df["exposure"].to_numpy()), enc.groups_, factors


def test_relaxed_cv_uses_the_refit_at_the_selected_lambda():
    X, y, off, groups, _ = _portfolio()
    cv = _CV(power=1.5, groups=groups, relax=True, n_folds=3, random_state=0, n_lambdas=30,
             select="lambda_1se").fit(X, y, offset=off)
    _, _, active = penalised_solution(cv)
    assert 0 < active.sum() < X.shape[1]
    cols = list(X.columns[active])
    glm = TweedieGLM(power=1.5, groups=list(np.asarray(groups)[active])).fit(X[cols], y, offset=off)
    table = cv.coef_table(X, y, offset=off)
    assert list(table.index) == ["intercept", *cols]
    np.testing.assert_allclose(table.to_numpy(), glm.coef_table(X[cols], y, offset=off).to_numpy(),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(cv.factor_tests(X, y, offset=off)["lr_statistic"],
                               glm.factor_tests(X[cols], y, offset=off)["lr_statistic"], rtol=1e-6)


def test_relaxed_cv_selecting_nothing_gives_the_intercept_only_model():
    model, (X, y, w, off), _ = _r_case("1.5")
    cv = _CV(power=1.5, relax=True, n_folds=3, random_state=0, n_lambdas=5,
             lambda_min_ratio=0.5).fit(X, y, w, off)
    assert np.all(cv.coef_ == 0)
    table = cv.coef_table(X, y, w, off)
    assert list(table.index) == ["intercept"]
    assert cv.factor_tests(X, y, w, off).empty
    cv.set_params(relax=np.True_)  # a numpy boolean counts as True
    assert penalised_solution(cv)[2].sum() == 0


def test_lasso_solutions_are_refused():
    _, (X, y, w, off), _ = _r_case("1.5")
    cv = _CV(power=1.5, n_folds=3, random_state=0, n_lambdas=10).fit(X, y, w, off)
    with pytest.raises(ValueError, match=r"shrunk.*HDTweedieCV\(relax=True\).*TweedieGLM"):
        cv.coef_table(X, y, w, off)
    path = _Path(power=1.5, lambdas=[0.0]).fit(X, y, w, off)
    with pytest.raises(ValueError, match="shrunk"):
        path.fit_statistics(X, y, w, off)


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(confidence_level=0.0), ValueError, "confidence_level"),
    (dict(confidence_level=1.0), ValueError, "confidence_level"),
    (dict(confidence_level=95), ValueError, "confidence_level"),
    (dict(confidence_level="0.95"), TypeError, "confidence_level"),
    (dict(dispersion=0.0), ValueError, "dispersion"),
    (dict(dispersion=-2.0), ValueError, "dispersion"),
    (dict(dispersion=np.inf), ValueError, "dispersion"),
    (dict(dispersion="deviance"), ValueError, "'deviance'"),
    (dict(dispersion=True), TypeError, "dispersion"),
    (dict(dispersion=[1.0]), TypeError, "dispersion"),
    (dict(robust="yes"), TypeError, "robust"),
])
def test_bad_arguments(kwargs, exc, match):
    model, data, _ = _r_case("1.5")
    with pytest.raises(exc, match=match):
        model.coef_table(*data, **kwargs)


def test_bad_data_is_named():
    model, (X, y, w, off), _ = _r_case("1.5")
    with pytest.raises(ValueError, match="y has 399 values"):
        model.coef_table(X, y[1:], w, off)
    bad = y.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        model.fit_statistics(X, bad, w, off)
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        model.factor_tests(X, y, -w, off)
    with pytest.raises(ValueError, match="offset has 3 values"):
        model.covariance_matrix(X, y, w, off[:3])
    with pytest.raises(ValueError, match="X: The feature names should match"):
        model.coef_table(X.iloc[:, :3], y, w, off)
    plain = TweedieGLM(power=1.5).fit(X.to_numpy(), y, w, off)
    with pytest.raises(ValueError, match="X has 3 features"):
        plain.coef_table(X.iloc[:, :3].to_numpy(), y, w, off)


def test_demo_portfolio_example():
    X, y, off, groups, factors = _portfolio()
    model = TweedieGLM(power=1.5, groups=groups).fit(X, y, offset=off)
    tests = model.factor_tests(X, y, offset=off)
    assert list(tests.index) == factors
    assert tests.loc["ncd_years", "lr_p_value"] < 1e-3
    table = model.coef_table(X, y, offset=off)
    assert np.all(table["relativity_lower"] < table["relativity"])
