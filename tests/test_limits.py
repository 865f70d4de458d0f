"""The Poisson (power=1) and Gamma (power=2) limits, against independent solvers.

The objective of ``HDTweedie`` is ``sum_i w_i/sum(w) * L(y_i, eta_i) + lambda * penalty``
with ``L`` half the unit deviance up to a constant in ``y``.  glum minimises
``1/(2 sum(s)) * deviance + alpha * (l1_ratio ||b||_1 + (1 - l1_ratio)/2 ||b||^2)``:
the same problem with glum's ``alpha = lambda`` and ``l1_ratio = alpha`` (lasso:
``penalty_factor`` 1 for single columns, the default).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from scipy.optimize import minimize

from hdtweedie import HDTweedie
from hdtweedie._distribution import penalized_objective, tweedie_deviance, unit_deviance
from hdtweedie._groups import make_groups

# Fits solved to rounding; the pass cap turns a stall into a reported stop, not a hang.
TIGHT = dict(tol=1e-16, max_iter=5_000_000)


def make_problem(seed, n=80, p=6, power=1.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    beta = np.zeros(p)
    beta[:3] = [0.5, -0.4, 0.25]
    mu = np.exp(0.3 + X @ beta)
    if power == 1:
        y = rng.poisson(mu).astype(float)
    elif power == 2:
        y = rng.gamma(2.0, mu / 2.0)
    else:
        counts = rng.poisson(mu ** (2 - power) / (2 - power))
        shape = (2 - power) / (power - 1)
        amounts = rng.gamma(np.maximum(counts, 1) * shape, (power - 1) * mu ** (power - 1))
        y = np.where(counts > 0, amounts, 0.0)
    return X, y, rng


def tweedie_loss(eta, y, power):
    """Per-row loss (half deviance up to a constant in y), written independently."""
    if power == 1:
        return np.exp(eta) - y * eta
    if power == 2:
        return y * np.exp(-eta) + eta
    return (y * np.exp(-(power - 1) * eta) / (power - 1)
            + np.exp((2 - power) * eta) / (2 - power))


def lasso_by_lbfgsb(X, y, w, offset, power, lam):
    """The lasso solved by L-BFGS-B on the split b = u - v, u, v >= 0 (smooth, bounded)."""
    n, p = X.shape
    wn = w / w.sum()

    def f(theta):
        b0, u, v = theta[0], theta[1:p + 1], theta[p + 1:]
        eta = offset + b0 + X @ (u - v)
        q = wn * (-(y * np.exp(-(power - 1) * eta)) + np.exp((2 - power) * eta))
        g = X.T @ q
        val = wn @ tweedie_loss(eta, y, power) + lam * (u.sum() + v.sum())
        return val, np.concatenate([[q.sum()], g + lam, -g + lam])

    theta0 = np.zeros(2 * p + 1)
    theta0[0] = np.log(np.average(y, weights=w))
    res = minimize(f, theta0, jac=True, method="L-BFGS-B",
                   bounds=[(None, None)] + [(0, None)] * (2 * p),
                   options=dict(ftol=1e-15, gtol=1e-12, maxiter=20000, maxcor=30))
    return res.x[0], res.x[1:p + 1] - res.x[p + 1:], res.fun


# --------------------------------------------------------------------------------------
# Against independent solvers
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
@pytest.mark.parametrize("alpha", [1.0, 0.6])
# glum notes when its line search cannot improve at this tight tolerance (at the optimum).
@pytest.mark.filterwarnings("ignore:Line search failed")
def test_against_glum(power, alpha):
    glum = pytest.importorskip("glum")
    X, y, rng = make_problem(2, power=power)
    w = rng.uniform(0.5, 2.0, size=X.shape[0])
    off = rng.normal(0, 0.3, size=X.shape[0])
    ours = HDTweedie(power=power, alpha=alpha, **TIGHT, n_lambdas=10).fit(
        X, y, sample_weight=w, offset=off)
    family = {1.0: "poisson", 2.0: "gamma"}.get(power) or glum.TweedieDistribution(power)
    for k in (2, 5, 9):
        ref = glum.GeneralizedLinearRegressor(
            family=family, alpha=ours.lambdas_[k], l1_ratio=alpha, gradient_tol=1e-12,
            step_size_tol=1e-14, max_iter=10000).fit(X, y, sample_weight=w, offset=off)
        # Both solved to ~1e-10; 1e-7 is well below any modelling difference (a
        # factor 2 in the loss or a mis-normalised weight moves these by >1e-2).
        np.testing.assert_allclose(ours.coef_path_[:, k], ref.coef_, atol=1e-7)
        assert abs(ours.intercept_path_[k] - ref.intercept_) < 1e-7


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
def test_lasso_against_lbfgsb(power):
    X, y, rng = make_problem(5, power=power)
    w = rng.uniform(0.5, 2.0, size=X.shape[0])
    off = rng.normal(0, 0.3, size=X.shape[0])
    ours = HDTweedie(power=power, **TIGHT, n_lambdas=8).fit(X, y, sample_weight=w, offset=off)
    gs = make_groups(None, X.shape[1])
    for k in (1, 4, 7):
        lam = ours.lambdas_[k]
        b0, b, fun = lasso_by_lbfgsb(X, y, w, off, power, lam)
        mine = penalized_objective(X, y, w, off, ours.intercept_path_[k], ours.coef_path_[:, k],
                                   power, lam, 1.0, gs, np.ones(X.shape[1]))
        # Ours is at least as good, and the minimisers agree to L-BFGS-B's accuracy.
        assert mine <= fun + 1e-12
        np.testing.assert_allclose(ours.coef_path_[:, k], b, atol=1e-5)
        assert abs(ours.intercept_path_[k] - b0) < 1e-5


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_grouped_solution_beats_perturbations(power):
    """Group lasso + ridge: no small perturbation lowers the objective (written here)."""
    X, y, rng = make_problem(9, power=power)
    groups = [0, 0, 1, 1, 1, 2]
    pf = np.array([1.0, 2.0, 0.5])
    alpha = 0.8
    ours = HDTweedie(power=power, groups=groups, alpha=alpha, penalty_factor=pf, **TIGHT,
                     n_lambdas=8).fit(X, y)
    idx = np.array(groups)

    def objective(b0, b, lam):
        pen = sum(alpha * pf[g] * np.linalg.norm(b[idx == g])
                  + (1 - alpha) / 2 * b[idx == g] @ b[idx == g] for g in range(3))
        return np.mean(tweedie_loss(b0 + X @ b, y, power)) + lam * pen

    gs = make_groups(groups, 6)
    for k in (2, 5, 7):
        lam, b0, b = ours.lambdas_[k], ours.intercept_path_[k], ours.coef_path_[:, k]
        f0 = objective(b0, b, lam)
        assert f0 == pytest.approx(penalized_objective(X, y, np.ones(80), np.zeros(80), b0, b,
                                                       power, lam, alpha, gs, pf), rel=1e-13)
        for scale in (1e-2, 1e-4):
            for _ in range(30):
                d = rng.normal(size=7) * scale
                # Rounding in f is ~1e-16 * |f|; the first-order gain of a wrong point
                # would be ~|gradient| * scale >> that.
                assert objective(b0 + d[0], b + d[1:], lam) >= f0 - 1e-14 * abs(f0)


# --------------------------------------------------------------------------------------
# Continuity in the power
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("limit, direction", [(1.0, 1.0), (2.0, -1.0)])
def test_paths_are_continuous_at_the_limits(limit, direction):
    """The loss at p = limit + eps differs by O(eps) (up to a constant), so does the path."""
    X, y, _ = make_problem(2, power=1.5)
    if limit == 2:
        y = np.maximum(y, 0.05)
    base = HDTweedie(power=limit, **TIGHT, n_lambdas=12).fit(X, y)
    diffs = []
    for eps in (1e-3, 1e-5):
        near = HDTweedie(power=limit + direction * eps, **TIGHT, lambdas=base.lambdas_).fit(X, y)
        assert near.status_ == 0
        assert np.all(np.isfinite(near.coef_path_))
        d = max(np.abs(near.coef_path_ - base.coef_path_).max(),
                np.abs(near.intercept_path_ - base.intercept_path_).max())
        diffs.append(d)
    # O(eps): 0.001 -> below 1e-2 (about 2e-4 here), and 100x smaller at 1e-5.
    assert diffs[0] < 1e-2
    assert diffs[1] < 2e-2 * diffs[0] + 1e-12
    # The default grids, too, move continuously.
    near = HDTweedie(power=limit + direction * 1e-5, **TIGHT, n_lambdas=12).fit(X, y)
    np.testing.assert_allclose(near.lambdas_, base.lambdas_, rtol=1e-4)


@pytest.mark.parametrize("power", [1.001, 1.999, 1.0 + 1e-9, 2.0 - 1e-9])
def test_near_limit_powers_are_stable(power):
    X, y, _ = make_problem(4, power=1.5)
    y = np.maximum(y, 0.01) if power > 1.5 else y
    model = HDTweedie(power=power).fit(X, y)
    assert model.status_ == 0
    assert np.all(np.isfinite(model.coef_path_)) and np.all(np.isfinite(model.lambdas_))
    assert np.all(np.isfinite(model.predict(X)))
    # The fit explains some deviance at the end of the path.
    assert model.score(X, y) > 0


def test_power_two_rejects_zero_response():
    X, y, _ = make_problem(1, power=2.0)
    y[3] = 0.0
    with pytest.raises(ValueError, match=r"\by\b"):
        HDTweedie(power=2).fit(X, y)
    # Allowed for any power below 2.
    HDTweedie(power=2 - 1e-6, n_lambdas=3).fit(X, y)


# --------------------------------------------------------------------------------------
# Badly scaled responses at the limits (the IRLS start is eta = 0)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("power, c", [(1.0, 1e6), (2.0, 1e-6)])
def test_limit_with_badly_scaled_response_converges_quickly(power, c):
    """y -> c y is the same problem (eta + log c, lambda * c^(2-p)); it must not crawl.

    A start at eta = 0 with a full Newton step overshoots by ~c (Poisson) or
    ~1/c (Gamma); a few thousand passes are plenty for this 5-lambda path (the
    unscaled fit needs a few hundred).
    """
    X, y, _ = make_problem(3, power=power)
    base = HDTweedie(power=power, n_lambdas=5, **TIGHT).fit(X, y)
    assert base.n_passes_ < 2000
    scaled = HDTweedie(power=power, tol=1e-16, lambdas=base.lambdas_ * c ** (2 - power),
                       max_iter=20_000).fit(X, c * y)
    assert scaled.status_ == 0
    np.testing.assert_allclose(scaled.coef_path_, base.coef_path_, atol=1e-6)
    np.testing.assert_allclose(scaled.intercept_path_, base.intercept_path_ + np.log(c),
                               atol=1e-6)


# --------------------------------------------------------------------------------------
# Deviance limits
# --------------------------------------------------------------------------------------
Y = np.array([0.0, 0.3, 1.0, 2.5, 40.0, 1e-4])
MU = np.array([0.5, 0.2, 1.3, 2.5, 10.0, 3e-4])


def _deviance_mp(y, mu, p):
    """Unit deviance in 50-digit arithmetic, from its definition."""
    with mpmath.workdps(50):
        y, mu, p = mpmath.mpf(y), mpmath.mpf(mu), mpmath.mpf(p)
        if p == 1:
            return float(2 * ((y * mpmath.log(y / mu) if y > 0 else 0) - y + mu))
        if p == 2:
            return float(2 * (mpmath.log(mu / y) + y / mu - 1))
        return float(2 * ((y ** (2 - p) - y * mu ** (1 - p)) / (1 - p)
                          - (y ** (2 - p) - mu ** (2 - p)) / (2 - p)))


def _scale(y, mu, p):
    # d_p(c y, c mu) = c^(2-p) d_p(y, mu): the deviance's natural size.
    return (y + mu) ** (2 - p)


@pytest.mark.parametrize("p", [1.0, 1.2, 1.5, 1.8, 2.0])
def test_unit_deviance_matches_definition(p):
    y, mu = (Y[1:], MU[1:]) if p == 2 else (Y, MU)
    ref = np.array([_deviance_mp(a, b, p) for a, b in zip(y, mu)])
    got = unit_deviance(y, mu, p)
    np.testing.assert_array_less(np.abs(got - ref), 1e-12 * _scale(y, mu, p))
    assert np.all(got >= 0)
    assert got[list(y).index(2.5)] == 0.0  # y == mu


@pytest.mark.parametrize("limit, direction", [(1.0, 1.0), (2.0, -1.0)])
@pytest.mark.parametrize("eps", [1e-3, 1e-6, 1e-9])
def test_unit_deviance_near_limits(limit, direction, eps):
    y, mu = (Y[1:], MU[1:]) if limit == 2 else (Y, MU)
    p = limit + direction * eps
    ref = np.array([_deviance_mp(a, b, p) for a, b in zip(y, mu)])
    got = unit_deviance(y, mu, p)
    scale = _scale(y, mu, limit)
    # The closed form (a^t - b^t)/t cancels as t = p - limit -> 0: ~1e-16/eps
    # relative, times the size of the logs (<= 10 here); 1e-5 allows eps = 1e-9.
    np.testing.assert_array_less(np.abs(got - ref), (1e-14 / eps) * 100 * scale)
    # And it tends to the limit's own formula: the exact gap is O(eps * log^2).
    gap = np.abs(got - unit_deviance(y, mu, limit))
    np.testing.assert_array_less(gap, (100 * eps + 1e-5) * scale)


def test_tweedie_deviance_continuous_at_limits():
    assert tweedie_deviance(Y, MU, 1 + 1e-9) == pytest.approx(tweedie_deviance(Y, MU, 1),
                                                              rel=1e-5)
    assert tweedie_deviance(Y[1:], MU[1:], 2 - 1e-9) == pytest.approx(
        tweedie_deviance(Y[1:], MU[1:], 2), rel=1e-5)


@pytest.mark.parametrize("p", [1 + 1e-12, 2 - 1e-12])
def test_unit_deviance_accurate_very_close_to_limits(p):
    """Power in [1, 2] is allowed; the deviance should stay accurate next to the limits.

    (a^t - b^t)/t evaluated directly cancels catastrophically for t -> 0; written
    as b^t expm1(t log(a/b))/t it is accurate to rounding for every t.
    """
    y, mu = Y[1:], MU[1:]
    ref = np.array([_deviance_mp(a, b, p) for a, b in zip(y, mu)])
    np.testing.assert_array_less(np.abs(unit_deviance(y, mu, p) - ref),
                                 1e-9 * _scale(y, mu, round(p)))
