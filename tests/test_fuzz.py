"""Malformed and extreme inputs: a clear ValueError/TypeError naming the argument, never a
crash, a hang or NaN output.

Every malformed case must raise ``ValueError`` or ``TypeError`` whose message
contains the argument's name as a word.  Valid but extreme inputs must give a
finite path, or a ``ValueError`` that says what to change.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hdtweedie import HDTweedie, HDTweedieCV

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
N, P = 12, 3
NAN, INF = float("nan"), float("inf")


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, P))
    y = rng.gamma(1.0, 1.0, size=N) * (rng.random(N) < 0.7)
    y[0] = 1.0
    return X, y


def assert_names(exc_info, name):
    msg = str(exc_info.value)
    assert re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", msg), (
        f"message does not name {name!r}: {msg!r}")


def expect_error(fn, name):
    """``fn()`` raises ValueError/TypeError naming ``name`` (any other exception fails)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, TypeError)) as exc_info:
            fn()
    assert_names(exc_info, name)
    return exc_info


# --------------------------------------------------------------------------------------
# Hyper-parameters
# --------------------------------------------------------------------------------------
BAD_PARAMS = {
    "power": [-1.0, 0.0, 0.999, 2.001, 3, NAN, INF, "1.5", None, True, [1.5], 1 + 2j],
    "alpha": [0.0, -0.1, 1.0001, 2, NAN, INF, "a", None, [0.5]],
    "n_lambdas": [0, -3, 2.5, NAN, INF, "10", None, True, [10]],
    "lambda_min_ratio": [0.0, -0.1, 1.0, 1.5, NAN, INF, "x", [0.1]],
    "lambdas": [[-1.0, 0.5], [NAN, 0.1], [INF], "abc", [], ["a", "b"], [0.1, None],
                -0.5],
    "penalty_factor": [[1.0, 1.0], [1, 1, 1, 1], [1.0, -1.0, 1.0], [NAN, 1, 1], [INF, 1, 1],
                       "abc", [0.0, 0.0, 0.0], ["a", "b", "c"], {"nope": 1.0},
                       {0: "x"}, {0: NAN}, {0: -2.0}],
    "groups": [[0, 1], [0, 1, 2, 3], "abc", {"a": []}, {"a": [0, 1], "b": [5]},
               {"a": [0, 1], "b": [1, 2]}, {"a": [0, 1]}, [0, NAN, 1], [[0], [1], [2]],
               {"a": [0, 1], "b": ["missing_column"]}, {"a": [0, 1], "b": [2.5]},
               {"a": [0, 1], "b": [True]}],
    "dfmax": [-1, 1.5, "x", NAN],
    "pmax": [-1, 1.5, "x", NAN],
    "standardize": ["yes", 1, None, [True]],
    "tol": [0.0, -1e-8, NAN, INF, "x", None],
    "max_iter": [0, -5, 1.5, NAN, "x", 1e30],
}
PARAM_CASES = [pytest.param(k, v, id=f"{k}={v!r}") for k, vals in BAD_PARAMS.items()
               for v in vals]


@pytest.mark.parametrize("name, value", PARAM_CASES)
def test_bad_hyperparameter(name, value):
    X, y = data()
    expect_error(lambda: HDTweedie(**{name: value}).fit(X, y), name)


@pytest.mark.parametrize("name, value", PARAM_CASES[::3])
def test_bad_hyperparameter_cv(name, value):
    X, y = data()
    expect_error(lambda: HDTweedieCV(n_folds=3, **{name: value}).fit(X, y), name)


BAD_CV_PARAMS = {
    "n_folds": [2, 1, 0, -3, N + 1, 2.5, "5", None, NAN],
    "fold_ids": [np.zeros(N), np.repeat([0, 1], N // 2), np.arange(N - 1) % 3,
                 np.arange(N + 1) % 3, "abc", np.r_[np.arange(N - 1) % 3, NAN]],
    "loss": ["foo", None, 1],
    "select": ["lambda_max", None, 0],
    "random_state": ["abc", -1, 1.5],
    "n_jobs": ["x"],
}


@pytest.mark.parametrize("name, value", [pytest.param(k, v, id=f"{k}-{i}")
                                         for k, vals in BAD_CV_PARAMS.items()
                                         for i, v in enumerate(vals)])
def test_bad_cv_parameter(name, value):
    X, y = data()
    expect_error(lambda: HDTweedieCV(n_lambdas=5, **{name: value}).fit(X, y), name)


# --------------------------------------------------------------------------------------
# fit arguments
# --------------------------------------------------------------------------------------
def _bad_X():
    X, _ = data()
    out = []
    for label, val in [
        ("1d", X[:, 0]), ("3d", X[:, :, None]), ("nan", np.where(np.eye(N, P) > 0, NAN, X)),
        ("inf", np.where(np.eye(N, P) > 0, INF, X)), ("huge", np.where(np.eye(N, P) > 0, 1e200, X)),
        ("no_rows", np.zeros((0, P))), ("no_cols", np.zeros((N, 0))), ("one_row", X[:1]),
        ("strings", np.full((N, P), "a")), ("none", None), ("str", "abc"),
        ("complex", X + 1j), ("ragged", [[1.0, 2.0], [3.0]] * (N // 2)),
        ("object", np.array([[1.0, "x", 2.0]] * N, dtype=object)),
        ("sparse_nan", sp.csc_matrix(np.where(np.eye(N, P) > 0, NAN, X))),
        ("sparse_huge", sp.csr_matrix(np.where(np.eye(N, P) > 0, -1e200, X))),
        ("sparse_no_rows", sp.csc_matrix((0, P))), ("sparse_no_cols", sp.csc_matrix((N, 0))),
    ]:
        out.append(pytest.param(val, id=label))
    return out


@pytest.mark.parametrize("X", _bad_X())
def test_bad_X(X):
    _, y = data()
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(X, y), "X")
    expect_error(lambda: HDTweedieCV(n_lambdas=5, n_folds=3).fit(X, y), "X")


def test_bad_X_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = data()
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["b"] = ["u"] * N
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(df, y), "X")
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df.loc[3, "c"] = np.nan
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(df, y), "X")


BAD_FIT_ARGS = {
    "y": [np.ones(N - 1), np.ones(N + 1), np.r_[NAN, np.ones(N - 1)],
          np.r_[INF, np.ones(N - 1)], np.r_[-1.0, np.ones(N - 1)], np.r_[1e200, np.ones(N - 1)],
          np.ones((N, 2)), ["a"] * N, None, "abc", np.zeros(N), np.ones(N) + 1j],
    "sample_weight": [np.ones(N - 1), np.r_[NAN, np.ones(N - 1)], np.r_[INF, np.ones(N - 1)],
                      np.r_[-1.0, np.ones(N - 1)], np.zeros(N), ["a"] * N, np.ones((N, 2)),
                      -1.0, NAN, "abc"],
    "offset": [np.ones(N + 1), np.r_[NAN, np.zeros(N - 1)], np.r_[INF, np.zeros(N - 1)],
               np.r_[1e200, np.zeros(N - 1)], np.full(N, 800.0), ["a"] * N, np.ones((N, 2)),
               NAN, "abc"],
}


@pytest.mark.parametrize("name, value", [pytest.param(k, v, id=f"{k}-{i}")
                                         for k, vals in BAD_FIT_ARGS.items()
                                         for i, v in enumerate(vals)])
def test_bad_fit_argument(name, value):
    X, y = data()
    kwargs = {"y": y}
    kwargs[name] = value
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(X, **kwargs), name)
    expect_error(lambda: HDTweedieCV(n_lambdas=5, n_folds=3).fit(X, **kwargs), name)


def test_power_two_zero_response_names_y():
    X, y = data()
    y[1] = 0.0
    expect_error(lambda: HDTweedie(power=2).fit(X, y), "y")


def test_dataframe_groups_naming_missing_columns():
    pd = pytest.importorskip("pandas")
    X, y = data()
    df = pd.DataFrame(X, columns=["age", "area", "fuel"])
    expect_error(lambda: HDTweedie(groups={"g": ["age", "area"], "h": ["fule"]}).fit(df, y),
                 "groups")
    expect_error(lambda: HDTweedie(groups={"g": ["age", "area"], "h": []}).fit(df, y),
                 "groups")
    expect_error(lambda: HDTweedie(groups={"g": ["age", "area", "fuel"]},
                                   penalty_factor={"h": 1.0}).fit(df, y), "penalty_factor")


# --------------------------------------------------------------------------------------
# Using a fitted model
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    X, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (HDTweedie(n_lambdas=8).fit(X, y),
                HDTweedieCV(n_lambdas=8, n_folds=3, random_state=0).fit(X, y))


@pytest.mark.parametrize("which", [0, 1])
def test_bad_predict_arguments(fitted, which):
    model = fitted[which]
    X, y = data()
    expect_error(lambda: model.predict(X[:, :2]), "X")
    expect_error(lambda: model.predict(np.where(np.eye(N, P) > 0, NAN, X)), "X")
    expect_error(lambda: model.predict(X[:, 0]), "X")
    expect_error(lambda: model.predict(X, s=-1.0), "s")
    expect_error(lambda: model.predict(X, s=NAN), "s")
    expect_error(lambda: model.predict(X, s=[0.1, INF]), "s")
    expect_error(lambda: model.predict(X, s="lambda_foo"), "s")
    expect_error(lambda: model.predict(X, kind="foo"), "kind")
    expect_error(lambda: model.predict(X, offset=np.zeros(N + 1)), "offset")
    expect_error(lambda: model.predict(X, offset=np.full(N, NAN)), "offset")
    expect_error(lambda: model.predict_path(X, kind="foo"), "kind")
    expect_error(lambda: model.predict_path(X[:, :2]), "X")
    expect_error(lambda: model.coef_at(-1.0), "s")
    expect_error(lambda: model.coef_at(NAN), "s")
    expect_error(lambda: model.score(X, y[:-1]), "y")
    expect_error(lambda: model.score(X, -y), "y")
    expect_error(lambda: model.score(X, y, sample_weight=-np.ones(N)), "sample_weight")


def test_predict_string_s_on_path_estimator(fitted):
    X, _ = data()
    expect_error(lambda: fitted[0].predict(X, s="lambda_min"), "s")


# --------------------------------------------------------------------------------------
# Random corruption (hypothesis): one argument at a time, from the pools above
# --------------------------------------------------------------------------------------
@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_random_single_corruption(draw):
    X, y = data(draw.draw(st.integers(0, 5)))
    target = draw.draw(st.sampled_from(sorted(BAD_PARAMS) + sorted(BAD_FIT_ARGS)))
    pool = BAD_PARAMS.get(target) or BAD_FIT_ARGS[target]
    value = draw.draw(st.sampled_from(pool))
    cv = draw.draw(st.booleans())
    sparse = draw.draw(st.booleans())
    Xf = sp.csr_matrix(X) if sparse else X
    est = HDTweedieCV(n_folds=3, n_lambdas=5) if cv else HDTweedie(n_lambdas=5)
    fit_kw = {"y": y}
    if target in BAD_PARAMS:
        est.set_params(**{target: value})
    else:
        fit_kw[target] = value
    expect_error(lambda: est.fit(Xf, **fit_kw), target)


# --------------------------------------------------------------------------------------
# Valid but extreme: a finite path or a clear ValueError
# --------------------------------------------------------------------------------------
def check_finite_or_clear(make, X, y, **fit_kw):
    """Fit; a result must be finite everywhere, an error must say what to change."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = make().fit(X, y, **fit_kw)
        except ValueError as exc:
            msg = str(exc)
            assert re.search(r"\b(X|y|offset|sample_weight|max_iter|pmax|lambdas|alpha|"
                             r"penalty_factor|power)\b", msg), msg
            return None
    for attr in ("lambdas_", "intercept_path_", "coef_path_", "coef_"):
        assert np.all(np.isfinite(getattr(model, attr))), f"{attr}: {getattr(model, attr)}"
    assert np.all(model.lambdas_ >= 0)
    assert np.all(np.diff(model.lambdas_) <= 0)
    assert np.all(np.isfinite(model.predict(X, kind="link", offset=fit_kw.get("offset"))))
    return model


@settings(max_examples=60, **SETTINGS)
@given(st.integers(0, 2**16), st.sampled_from([1.0, 1.5, 2.0]),
       st.integers(-60, 60), st.integers(-40, 40), st.floats(-50, 50),
       st.sampled_from([None, 1e-300, 1e300, "mixed"]), st.booleans())
def test_extreme_scales(seed, power, x_exp, y_exp, off, weights, sparse):
    rng = np.random.default_rng(seed)
    n, p = 20, 3
    X = rng.normal(size=(n, p)) * 10.0 ** x_exp
    y = rng.gamma(1.0, 1.0, size=n) * 10.0 ** y_exp
    if power < 2:
        y[rng.random(n) < 0.3] = 0.0
        y[0] = 10.0 ** y_exp
    w = None if weights is None else (
        np.where(rng.random(n) < 0.5, 1e-300, 1e300) if weights == "mixed" else np.full(n, weights))
    # A pass cap turns a non-converging fit into a reported early stop instead of a hang.
    check_finite_or_clear(lambda: HDTweedie(power=power, n_lambdas=10, max_iter=200_000),
                          sp.csc_matrix(X) if sparse else X, y, sample_weight=w,
                          offset=np.full(n, off))


@pytest.mark.parametrize("kw", [
    dict(alpha=1e-300), dict(alpha=1e-310), dict(alpha=5e-324),
    dict(penalty_factor=[1e-20, 1e-20, 1e-20]), dict(penalty_factor=[1e300, 1.0, 1.0]),
    dict(penalty_factor=[0.0, 0.0, 1e-300]), dict(lambda_min_ratio=1e-300),
    dict(lambdas=[0.0]), dict(lambdas=[1e300, 1e-300]), dict(lambdas=[0.5, 0.5, 0.5]),
    dict(tol=1e300), dict(tol=1e-300, max_iter=100_000), dict(n_lambdas=1), dict(n_lambdas=2),
    dict(dfmax=0), dict(pmax=0), dict(pmax=1), dict(max_iter=1),
    dict(power=1.0 + 1e-15), dict(power=2.0 - 1e-15, lambdas=[0.1, 0.01]),
], ids=repr)
def test_extreme_valid_inputs_give_finite_output(kw):
    X, y = data(3)
    y = np.maximum(y, 0.1) if kw.get("power", 1.5) > 1.9 else y
    check_finite_or_clear(lambda: HDTweedie(**kw), X, y)


@pytest.mark.parametrize("shape", [(2, 1), (2, 30), (40, 1)])
def test_tiny_and_wide_problems(shape):
    rng = np.random.default_rng(0)
    X = rng.normal(size=shape)
    y = rng.gamma(1.0, 1.0, size=shape[0])
    for power in (1.0, 1.5, 2.0):
        model = check_finite_or_clear(lambda power=power: HDTweedie(power=power, n_lambdas=10), X, y)
        assert model is not None


def test_degenerate_columns():
    """All-zero and constant columns (no standardisation) never enter the model."""
    X, y = data(1)
    X = np.column_stack([X, np.zeros(N), np.full(N, 3.0)])
    for Xf in (X, sp.csc_matrix(X)):
        model = check_finite_or_clear(lambda: HDTweedie(n_lambdas=10), Xf, y)
        assert np.all(model.coef_path_[3] == 0)
        # A constant column is collinear with the intercept: its gradient is ~0 at any fit.
        assert np.all(np.abs(model.coef_path_[4]) < 1e-6)
    # All columns constant: no penalised gradient; whatever the grid, a finite, null model.
    model = check_finite_or_clear(lambda: HDTweedie(n_lambdas=5), np.full((N, 2), 2.0), y)
    if model is not None:
        assert np.all(np.abs(model.coef_path_) < 1e-8)


def test_columns_zero_on_every_weighted_row():
    """No penalised gradient at all: a clear error, without numpy warnings on the way."""
    X, y = data(5)
    w = np.ones(N)
    w[:4] = 0.0
    X = np.zeros((N, 2))
    X[:4] = np.random.default_rng(0).normal(size=(4, 2))  # only where the weight is 0
    for Xf in (X, sp.csc_matrix(X)):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            with pytest.raises(ValueError) as exc_info:
                HDTweedie(n_lambdas=5).fit(Xf, y, sample_weight=w)
        assert_names(exc_info, "lambdas")
        assert not [r for r in rec if issubclass(r.category, RuntimeWarning)], \
            [str(r.message) for r in rec]
    # Given lambdas, the fit is the intercept-only model.
    model = HDTweedie(lambdas=[0.1, 0.01]).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(model.coef_path_, 0.0)


def test_single_lambda_reports_lambda_max():
    """n_lambdas=1: the one solution is the all-zero model at lambda_max (ALGORITHM.md)."""
    X, y = data(2)
    five = HDTweedie(n_lambdas=5).fit(X, y)
    one = HDTweedie(n_lambdas=1).fit(X, y)
    assert one.lambdas_.shape == (1,)
    assert one.lambdas_[0] == pytest.approx(five.lambdas_[0], rel=1e-12)
    assert one.lambda_max_ == pytest.approx(five.lambda_max_, rel=1e-12)
    np.testing.assert_array_equal(one.coef_path_[:, 0], 0.0)


def test_huge_y_within_limits_is_finite_or_clear():
    X, y = data(4)
    for power in (1.0, 1.5, 2.0):
        yy = np.maximum(y, 1.0) * 1e99 if power == 2 else y * 1e99
        check_finite_or_clear(lambda power=power: HDTweedie(power=power, n_lambdas=5, max_iter=100_000),
                              X, yy)
