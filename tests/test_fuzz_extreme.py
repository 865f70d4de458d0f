"""Valid but extreme inputs: each case states its outcome, a fit or a clear error.

A fit must be finite everywhere, and where the mathematics makes the path
invariant (scaling X, y or the weights, a constant offset) it must equal the
transformed path of the unscaled data; an input the solver cannot handle must
raise a ValueError naming the argument to change.  Cases that could run for
minutes (a stalled descent) run in a child process with a time limit.
"""

from __future__ import annotations

import functools
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from hdtweedie import ConvergenceWarning, HDTweedie

from conftest import expect_error, isolated_result, names_argument, portfolio, small_data, tweedie_data

N, P = 12, 3
# Fits compared across scalings use a tight tolerance: their stopping points then
# differ by ~1e-7, far below what a mis-scaled lambda, offset or intercept moves.
TIGHT = 1e-14
CAP = 200_000  # passes: a stalled fit reports non-convergence instead of spinning


def data(seed=0):
    return small_data(seed, N, P)


def fit_quietly(model, X, y, **fit_kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y, **fit_kw)


def assert_finite_path(model, X, offset=None):
    """Everything a fit returns is finite, the grid non-negative and non-increasing."""
    for attr in ("lambdas_", "intercept_path_", "coef_path_", "coef_"):
        assert np.all(np.isfinite(getattr(model, attr))), f"{attr}: {getattr(model, attr)}"
    assert np.all(model.lambdas_ >= 0)
    assert np.all(np.diff(model.lambdas_) <= 0)
    assert np.all(np.isfinite(model.predict(X, kind="link", offset=offset)))


def assert_transformed_path(got, base, *, x_scale=1.0, y_scale=1.0, shift=0.0, power=1.5,
                            atol=1e-5, lambda_rtol=1e-6):
    """``got`` is ``base`` refitted on (X * x_scale, y * y_scale, offset + shift).

    The penalised problem maps exactly: lambdas scale by ``x_scale * y_scale**(2-p)``,
    coefficients by ``1 / x_scale``, and the intercept moves by ``log(y_scale) - shift``.
    """
    assert got.status_ == 0, f"status {got.status_} (base: {base.status_})"
    assert got.lambdas_.shape == base.lambdas_.shape
    np.testing.assert_allclose(got.lambdas_, base.lambdas_ * x_scale * y_scale ** (2 - power),
                               rtol=lambda_rtol)
    scale = max(1.0, np.abs(base.coef_path_).max())
    np.testing.assert_allclose(got.coef_path_ * x_scale, base.coef_path_, rtol=0, atol=atol * scale)
    np.testing.assert_allclose(got.intercept_path_, base.intercept_path_ + np.log(y_scale) - shift,
                               rtol=0, atol=atol * max(scale, abs(np.log(y_scale)) + abs(shift)))


# --------------------------------------------------------------------------------------
# Extreme hyper-parameters: the outcome of each
# --------------------------------------------------------------------------------------
def _all_zero_first(m):
    np.testing.assert_array_equal(m.coef_path_[:, 0], 0.0)
    assert m.lambda_max_ > 0


def _pf_huge(m):
    _all_zero_first(m)
    assert m.status_ == 0 and m.lambdas_.size == 100
    np.testing.assert_array_equal(m.coef_path_[0], 0.0)  # penalised out of the model


def _ratio_floor(m):
    _all_zero_first(m)
    assert m.status_ == 0 and m.lambdas_.size == 100
    # The ratio is raised to 1e-6 (ALGORITHM.md).
    assert m.lambdas_[-1] / m.lambdas_[0] == pytest.approx(1e-6, rel=1e-9)


def _unpenalised(m):
    assert m.status_ == 0
    np.testing.assert_array_equal(m.lambdas_, [0.0])
    assert np.all(m.coef_path_ != 0)


def _user_grid(lams):
    def check(m):
        assert m.status_ == 0
        np.testing.assert_array_equal(m.lambdas_, lams)
        if lams[0] > 1:  # above lambda_max: the null model
            np.testing.assert_array_equal(m.coef_path_[:, 0], 0.0)
        if len(set(lams)) == 1:  # one lambda, three times: one solution
            np.testing.assert_allclose(m.coef_path_, m.coef_path_[:, :1].repeat(len(lams), 1))
    return check


def _converged(m):
    assert m.status_ == 0 and m.lambdas_.size == 100
    _all_zero_first(m)


def _one_lambda(m):
    assert m.status_ == 0 and m.lambdas_.size == 1
    assert m.lambdas_[0] == m.lambda_max_
    _all_zero_first(m)


def _two_lambdas(m):
    assert m.status_ == 0 and m.lambdas_.size == 2
    assert m.lambdas_[1] / m.lambdas_[0] == pytest.approx(1e-3, rel=1e-9)  # n >= p
    _all_zero_first(m)


def _pmax_stop(k):
    def check(m):
        assert m.status_ == -10000 - k, m.status_
        assert m.lambdas_.size == k - 1
        _all_zero_first(m)
    return check


def _pmax_one(m):
    assert m.status_ < -10000
    assert m.lambdas_.size == -m.status_ - 10001
    assert np.all(m.df_ <= 1)
    _all_zero_first(m)


def _not_converged(m):
    assert -10000 < m.status_ < 0
    assert m.lambdas_.size == -m.status_ - 1
    _all_zero_first(m)


# (kwargs, expected): the name of the argument an error must name, or a check of the fit.
EXTREME_CASES = [
    (dict(alpha=1e-300), "alpha"), (dict(alpha=1e-310), "alpha"), (dict(alpha=5e-324), "alpha"),
    (dict(penalty_factor=[1e-20, 1e-20, 1e-20]), "penalty_factor"),
    (dict(penalty_factor=[0.0, 0.0, 1e-300]), "penalty_factor"),
    (dict(penalty_factor=[1e300, 1.0, 1.0]), _pf_huge),
    (dict(lambda_min_ratio=1e-300), _ratio_floor),
    (dict(lambdas=[0.0]), _unpenalised),
    (dict(lambdas=[1e300, 1e-300]), _user_grid([1e300, 1e-300])),
    (dict(lambdas=[0.5, 0.5, 0.5]), _user_grid([0.5, 0.5, 0.5])),
    (dict(tol=1e300), _converged),
    (dict(tol=1e-300, max_iter=100_000), _not_converged),
    (dict(n_lambdas=1), _one_lambda), (dict(n_lambdas=2), _two_lambdas),
    (dict(dfmax=0), _pmax_stop(2)), (dict(pmax=0), _pmax_stop(2)), (dict(pmax=1), _pmax_one),
    (dict(max_iter=1), "max_iter"),  # stopped at the first lambda: nothing to return
    (dict(power=1.0 + 1e-15), _converged),
    (dict(power=2.0 - 1e-15, lambdas=[0.1, 0.01]), _user_grid([0.1, 0.01])),
]


@pytest.mark.parametrize("kw, expected", EXTREME_CASES, ids=[repr(kw) for kw, _ in EXTREME_CASES])
def test_extreme_valid_inputs(kw, expected):
    X, y = data(3)
    y = np.maximum(y, 0.1) if kw.get("power", 1.5) > 1.9 else y
    if isinstance(expected, str):
        expect_error(lambda: HDTweedie(**kw).fit(X, y), expected, ValueError)
        return
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        model = HDTweedie(**kw).fit(X, y)
    stopped = model.status_ != 0
    assert any(issubclass(r.category, ConvergenceWarning) for r in rec) == stopped
    assert_finite_path(model, X)
    expected(model)


# --------------------------------------------------------------------------------------
# Scales: the path is invariant, or the argument at fault is named
# --------------------------------------------------------------------------------------
@given(st.integers(0, 2**16), st.sampled_from([1.0, 1.5, 2.0]), st.integers(-60, 60),
       st.integers(-40, 40), st.floats(-50, 50), st.sampled_from([None, 1e-300, 1e300, "mixed"]),
       st.booleans())
def test_extreme_scales(seed, power, x_exp, y_exp, off, weights, sparse):
    """Scaled X, y and weights and a constant offset give the transformed unscaled path.

    An error is acceptable only when it names an argument that was pushed beyond an
    ordinary range (|log10 scale| > 10 for X and y, |offset| > 20).
    """
    rng = np.random.default_rng(seed)
    n, p = 20, 3
    X = rng.normal(size=(n, p))
    y = rng.gamma(1.0, 1.0, size=n)
    if power < 2:
        y[rng.random(n) < 0.3] = 0.0
        y[0] = 1.0
    big = rng.random(n) < 0.5
    w = None if weights is None else (np.where(big, 1e300, 1e-300) if weights == "mixed"
                                      else np.full(n, weights))
    # 1e-300 / (k 1e300) underflows to 0: mixed weights are weights 0 and 1.
    w_ref = np.where(big, 1.0, 0.0) if weights == "mixed" else None
    conv = sp.csc_matrix if sparse else np.asarray
    make = functools.partial(HDTweedie, power=power, n_lambdas=10, tol=TIGHT, max_iter=CAP)
    cx, cy = 10.0 ** x_exp, 10.0 ** y_exp
    extreme = [name for name, far in (("X", abs(x_exp) > 10), ("y", abs(y_exp) > 10),
                                      ("offset", abs(off) > 20)) if far]
    try:
        base = fit_quietly(make(), conv(X), y, sample_weight=w_ref)
    except ValueError as exc:  # e.g. every positive y on a zero-weight row
        assert names_argument(str(exc), "y"), str(exc)
        expect_error(lambda: make().fit(conv(X * cx), y * cy, sample_weight=w,
                                        offset=np.full(n, off)), "y")
        return
    try:
        got = fit_quietly(make(), conv(X * cx), y * cy, sample_weight=w, offset=np.full(n, off))
    except (ValueError, TypeError) as exc:
        assert any(names_argument(str(exc), name) for name in extreme), (
            f"{type(exc).__name__}: {exc} (arguments out of the ordinary range: {extreme})")
        return
    assert_finite_path(got, conv(X * cx), offset=np.full(n, off))
    assert_transformed_path(got, base, x_scale=cx, y_scale=cy, shift=off, power=power)


def test_constant_offset_150_keeps_the_path(motor_portfolio, grouped):
    """A constant offset moves only the intercept (the path is invariant), or is refused."""
    pf = motor_portfolio
    X, y = data()
    Xg, yg, groups = grouped
    for Xf, yf, off, g in ((X, y, np.zeros(N), None), (pf.X, pf.y, pf.offset, pf.groups),
                           (Xg, yg, np.zeros(len(yg)), groups)):
        base = HDTweedie(groups=g, n_lambdas=20, tol=TIGHT).fit(Xf, yf, offset=off)
        try:
            got = HDTweedie(groups=g, n_lambdas=20, tol=TIGHT).fit(Xf, yf, offset=off + 150.0)
        except ValueError as exc:
            assert names_argument(str(exc), "offset"), str(exc)
            continue
        assert_transformed_path(got, base, shift=150.0)


@pytest.mark.parametrize("power, c", [(1.5, 3e31), (1.2, 3e31), (1.5, 1e-30), (1.0, 1e99),
                                      (1.5, 1e99), (2.0, 1e99)])
def test_scaled_response_keeps_the_path(power, c):
    """y * c: lambdas scale by c^(2-p), the intercept by log c, coefficients not at all."""
    d = tweedie_data(n=40, p=5, power=power, seed=4, weights=True, offset=True)
    kw = dict(sample_weight=d.sample_weight, offset=d.offset)
    base = HDTweedie(power=power, n_lambdas=20, tol=TIGHT).fit(d.X, d.y, **kw)
    try:
        got = HDTweedie(power=power, n_lambdas=20, tol=TIGHT).fit(d.X, d.y * c, **kw)
    except ValueError as exc:
        assert names_argument(str(exc), "y"), str(exc)
        return
    assert_transformed_path(got, base, y_scale=c, power=power)


# --------------------------------------------------------------------------------------
# Fits that must end promptly (run in a child process, a time limit per case)
# --------------------------------------------------------------------------------------
def isolated_cases(group):
    """Cases run in a child process (see conftest.run_isolated): ``{name: callable}``."""
    pf = portfolio()
    X, y = data()
    if group == "scale":
        return {f"X * {c:g}{' csc' if s else ''}": (
            lambda c=c, s=s: HDTweedie(power=1.5).fit(
                sp.csc_matrix(pf.X * c) if s else pf.X * c, pf.y, offset=pf.offset))
            for c in (1e20, 1e-13) for s in (False, True)}
    return {"small": lambda: HDTweedie(tol=1e-35, max_iter=1000).fit(X, y),
            "portfolio": lambda: HDTweedie(tol=1e-35, max_iter=1000).fit(pf.X, pf.y,
                                                                         offset=pf.offset)}


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("c", [1e20, 1e-13])
def test_scaled_X_converges_like_unscaled(c, sparse, motor_portfolio):
    """Default settings: X * c converges as the unscaled data does, or X is refused."""
    rec = isolated_result(__name__, "scale", f"X * {c:g}{' csc' if sparse else ''}", timeout=60)
    if rec["outcome"] == "error":
        assert rec["type"] == "ValueError" and names_argument(rec["message"], "X"), rec
        return
    pf = motor_portfolio
    base = HDTweedie(power=1.5).fit(pf.X, pf.y, offset=pf.offset)
    got = SimpleNamespace(status_=rec["status"], lambdas_=np.array(rec["lambdas"]),
                          coef_path_=np.array(rec["coef_path"]),
                          intercept_path_=np.array(rec["intercept_path"]))
    # Default tolerance: the two stop within ~sqrt(tol) of the same solution.
    assert_transformed_path(got, base, x_scale=c, atol=1e-3, lambda_rtol=1e-3)
    assert rec["n_passes"] <= 3 * base.n_passes_ + 100, (rec["n_passes"], base.n_passes_)


@pytest.mark.parametrize("case", ["small", "portfolio"])
def test_unreachable_tolerance_ends_promptly(case):
    """tol=1e-35 cannot be met: max_iter must bind in every loop and end the fit."""
    rec = isolated_result(__name__, "tolerance", case, timeout=60)
    assert rec["seconds"] < 20, rec["seconds"]
    assert rec["outcome"] == "fit", rec
    assert -10000 < rec["status"] < 0, rec["status"]
    assert len(rec["lambdas"]) == -rec["status"] - 1
    assert "ConvergenceWarning" in rec["warnings"], rec["warnings"]


# --------------------------------------------------------------------------------------
# Degenerate designs
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 1), (2, 30), (40, 1)])
@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
def test_tiny_and_wide_problems(shape, power):
    rng = np.random.default_rng(0)
    X = rng.normal(size=shape)
    y = rng.gamma(1.0, 1.0, size=shape[0])
    model = fit_quietly(HDTweedie(power=power, n_lambdas=10), X, y)
    assert_finite_path(model, X)
    _all_zero_first(model)


def test_degenerate_columns():
    """All-zero and constant columns (no standardisation) never enter the model."""
    X, y = data(1)
    X = np.column_stack([X, np.zeros(N), np.full(N, 3.0)])
    for Xf in (X, sp.csc_matrix(X)):
        model = fit_quietly(HDTweedie(n_lambdas=10), Xf, y)
        assert_finite_path(model, Xf)
        assert np.all(model.coef_path_[3] == 0)
        # A constant column is collinear with the intercept: its gradient is ~0 at any fit.
        assert np.all(np.abs(model.coef_path_[4]) < 1e-6)
    # All columns zero: no penalised gradient, so no default grid.
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(np.zeros((N, 2)), y), "lambdas", ValueError)
    # All columns constant: the gradient is zero up to rounding, so whether the grid is
    # refused (as above) depends on the last bit; if a grid is made, it is at rounding
    # level and the model is null.
    try:
        model = HDTweedie(n_lambdas=5).fit(np.full((N, 2), 2.0), y)
    except ValueError as exc:
        assert names_argument(str(exc), "lambdas"), str(exc)
    else:
        assert model.lambda_max_ < 1e-12 and np.all(np.abs(model.coef_path_) < 1e-12)
    model = HDTweedie(lambdas=[0.1, 0.01]).fit(np.full((N, 2), 2.0), y)
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
        assert names_argument(str(exc_info.value), "lambdas"), str(exc_info.value)
        assert not [r for r in rec if issubclass(r.category, RuntimeWarning)], \
            [str(r.message) for r in rec]
    # Given lambdas, the fit is the intercept-only model.
    model = HDTweedie(lambdas=[0.1, 0.01]).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(model.coef_path_, 0.0)


def test_single_lambda_reports_lambda_max():
    """n_lambdas=1: the one solution is the all-zero model at lambda_max (docs/architecture.md)."""
    X, y = data(2)
    five = HDTweedie(n_lambdas=5).fit(X, y)
    one = HDTweedie(n_lambdas=1).fit(X, y)
    assert one.lambdas_.shape == (1,)
    assert one.lambdas_[0] == pytest.approx(five.lambdas_[0], rel=1e-12)
    assert one.lambda_max_ == pytest.approx(five.lambda_max_, rel=1e-12)
    np.testing.assert_array_equal(one.coef_path_[:, 0], 0.0)
