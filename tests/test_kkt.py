"""Optimality (KKT) conditions at every lambda of fitted paths.

For the objective of ``HDTweedie`` (weights normalised to sum to one)::

    sum_i w_i [ y_i exp(-(p-1) eta_i) / (p-1) + exp((2-p) eta_i) / (2-p) ]
        + lambda * sum_g ( alpha pf_g ||b_g|| + (1-alpha)/2 ||b_g||^2 )

minus the loss gradient in ``eta`` is ``q_i = w_i (y_i exp(-(p-1) eta_i) - exp((2-p) eta_i))``
(also at ``p = 1`` and ``p = 2``), and with ``g_j = sum_i q_i x_ij`` a solution satisfies

* intercept: ``sum_i q_i = 0``;
* a non-zero group: ``g_g - lambda (1-alpha) b_g = lambda alpha pf_g b_g / ||b_g||``;
* a zero group: ``||g_g|| <= lambda alpha pf_g``.

With ``standardize=True`` the penalty acts on the standardised coefficients,
so the conditions are checked there (``x~ = (x - mean) / scale``,
``b~ = b * scale``; the linear predictor is unchanged).

Tolerance.  The solver stops once a whole IRLS iteration moves no coefficient
by a squared amount ``>= tol``, i.e. by more than ``sqrt(tol)``.  A point
within ``delta`` (per coordinate) of the solution has a gradient error of at
most ``||H||_2 * ||delta||_2 <= ||H||_2 * sqrt((p + 1) tol)``, where ``H`` is the
loss Hessian in ``(b0, b)`` (``X1' diag(h) X1`` with ``h`` the Hessian in eta).
The tests allow ten times that bound (the iterate is a majorisation step,
not a Newton step, so the first-order bound is a scale, not a guarantee).
Coordinates are unit-scaled and ``||H||`` is a few units here, so with the
default ``tol=1e-8`` this allows ~1e-2 absolute, which is loose; most tests
therefore pass ``tol=1e-12`` (~1e-4 allowed).  Observed residuals stay below
5% of the allowance over thousands of random lambdas, while a missing ridge
term, ignored offset or weights, or a wrong penalty factor gives residuals
10^3 times the allowance.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hdtweedie import HDTweedie

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------------------
# KKT residuals
# --------------------------------------------------------------------------------------
def _q_and_h(eta, y, wn, power):
    """Minus the loss gradient in eta (q) and the loss Hessian in eta (h)."""
    r1 = wn * y * np.exp(-(power - 1.0) * eta)
    r2 = wn * np.exp((2.0 - power) * eta)
    return r1 - r2, (power - 1.0) * r1 + (2.0 - power) * r2


def kkt_report(X, y, w, offset, power, alpha, group_index, pf, lam, b0, b, tol):
    """Largest KKT residual at one lambda, relative to the tolerance (<= 1 passes).

    ``X`` is the design the penalty acts on (dense), ``b`` the coefficients there.
    Returns ``(worst_ratio, details)``.
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    wn = np.asarray(w, dtype=float) / np.sum(w)
    eta = offset + b0 + X @ b
    q, h = _q_and_h(eta, y, wn, power)
    g = X.T @ q
    X1 = np.column_stack([np.ones(n), X])
    hess_norm = np.linalg.norm(X1.T @ (h[:, None] * X1), 2)
    atol = 10.0 * hess_norm * np.sqrt((p + 1) * tol) + 1e-12
    worst = abs(q.sum()) / atol
    details = {"intercept": q.sum(), "atol": atol}
    n_groups = int(group_index.max()) + 1
    for k in range(n_groups):
        cols = np.flatnonzero(group_index == k)
        bg, gg = b[cols], g[cols]
        nb = np.linalg.norm(bg)
        ridge = gg - lam * (1.0 - alpha) * bg
        zero_res = max(np.linalg.norm(ridge) - lam * alpha * pf[k], 0.0)
        if nb > 0:
            res = np.linalg.norm(ridge - lam * alpha * pf[k] * bg / nb)
            # A group within the stopping tolerance of zero is indistinguishable from zero.
            if nb < 10 * np.sqrt(tol):
                res = min(res, zero_res)
        else:
            res = zero_res
        details[f"group{k}"] = res
        worst = max(worst, res / atol)
    return worst, details


def standardized_design(X):
    """The reference's standardisation: plain mean, divide-by-n scale."""
    X = np.asarray(X, dtype=float)
    mean = X.mean(axis=0)
    scale = np.sqrt(((X - mean) ** 2).mean(axis=0))
    return (X - mean) / scale, mean, scale


def check_path_kkt(model, X, y, w=None, offset=None, skip_first=False):
    """Assert the KKT conditions at every lambda of a fitted ``HDTweedie``."""
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    n = Xd.shape[0]
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    if model.standardize:
        Xd, mean, scale = standardized_design(Xd)
    pf = model.penalty_factor_
    alpha = model.alpha
    assert model.status_ == 0
    assert np.all(np.isfinite(model.coef_path_)) and np.all(np.isfinite(model.lambdas_))
    for k, lam in enumerate(model.lambdas_):
        if skip_first and k == 0:
            continue
        b = model.coef_path_[:, k]
        b0 = model.intercept_path_[k]
        if model.standardize:
            b0 = b0 + mean @ b  # intercept of the standardised problem
            b = b * scale
        worst, details = kkt_report(Xd, y, w, offset, model.power, alpha, model.group_index_,
                                    pf, lam, b0, b, model.tol)
        assert worst <= 1.0, f"KKT violated at lambda #{k} ({lam:.4g}): {details}"


# --------------------------------------------------------------------------------------
# Random problems
# --------------------------------------------------------------------------------------
def tweedie_response(rng, mu, power):
    """A response with mean ``mu``: Poisson counts, Gamma amounts or compound Poisson-Gamma."""
    if power == 1:
        return rng.poisson(mu).astype(float)
    if power == 2:
        return rng.gamma(2.0, mu / 2.0)
    # Compound Poisson-Gamma with Tweedie power p (dispersion 1).
    lam_n = mu ** (2 - power) / (2 - power)
    shape = (2 - power) / (power - 1)
    scale = (power - 1) * mu ** (power - 1)
    counts = rng.poisson(lam_n)
    # A sum of c Gamma(shape, scale) draws is Gamma(c * shape, scale).
    amounts = rng.gamma(np.maximum(counts, 1) * shape, scale)
    return np.where(counts > 0, amounts, 0.0)


def make_problem(seed, n, p, power, sparse_density=None):
    """A small problem with a sparse truth; at least one positive y."""
    rng = np.random.default_rng(seed)
    if sparse_density is None:
        X = rng.normal(size=(n, p))
    else:
        mask = rng.random((n, p)) < sparse_density
        X = np.where(mask, rng.normal(1.0, 1.0, size=(n, p)), 0.0)
        X[0, :] = 1.0  # no empty column
        X[1, :] = 0.0
    beta = np.zeros(p)
    k = max(1, p // 2)
    beta[:k] = rng.normal(0, 0.5, size=k)
    mu = np.exp(0.2 + np.clip(X @ beta, -3, 3))
    y = tweedie_response(rng, mu, power)
    if not np.any(y > 0):
        y[0] = 1.0
    if power == 2:
        y = np.maximum(y, 1e-3)
    return X, y, rng


def random_groups(rng, p, kind):
    """Group labels: non-contiguous, mixed sizes, mixed label types."""
    if kind == "lasso":
        return None
    pool = ["b", 7, ("t", 1), "a", 3.5]
    n_groups = int(rng.integers(1, min(p, len(pool)) + 1))
    labels = [pool[i] for i in rng.permutation(len(pool))[:n_groups]]
    # Every chosen label at least once, the rest at random, in shuffled column order.
    assign = rng.permutation(np.concatenate([np.arange(n_groups),
                                             rng.integers(0, n_groups, size=p - n_groups)]))
    return [labels[i] for i in assign]


POWERS = st.sampled_from([1.0, 1.2, 1.5, 1.8, 2.0])


@st.composite
def problems(draw, sparse=False):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(10, 40))
    p = draw(st.integers(1, 7))
    power = draw(POWERS)
    X, y, rng = make_problem(seed, n, p, power, sparse_density=0.5 if sparse else None)
    kind = draw(st.sampled_from(["lasso", "grouped"]))
    groups = random_groups(rng, p, kind)
    alpha = draw(st.sampled_from([1.0, 1.0, 0.7, 0.3]))
    w = None
    if draw(st.booleans()):
        w = rng.uniform(0.0, 3.0, size=n)
        w[rng.random(n) < 0.2] = 0.0  # some zero weights
        w[0] = 1.0  # the row that makes every sparse column non-zero keeps a weight
        if not np.any((w > 0) & (y > 0)):
            w[np.flatnonzero(y > 0)[0]] = 1.0
    offset = rng.normal(0, 0.5, size=n) if draw(st.booleans()) else None
    standardize = draw(st.booleans())
    if standardize and sparse:
        standardize = False
    return dict(X=X, y=y, w=w, offset=offset, power=power, groups=groups, alpha=alpha,
                standardize=standardize)


def fit(prob, X=None, **kw):
    params = dict(power=prob["power"], groups=prob["groups"], alpha=prob["alpha"],
                  standardize=prob["standardize"], n_lambdas=20, tol=1e-12,
                  max_iter=5_000_000)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fit that warns is not a clean KKT target
        return HDTweedie(**params).fit(prob["X"] if X is None else X, prob["y"],
                                       sample_weight=prob["w"], offset=prob["offset"])


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------
@settings(max_examples=120, **SETTINGS)
@given(problems())
def test_kkt_random_problems(prob):
    """Lasso/grouped, elastic net, weights, offset, standardisation, every power."""
    model = fit(prob)
    check_path_kkt(model, prob["X"], prob["y"], prob["w"], prob["offset"])


@settings(max_examples=50, **SETTINGS)
@given(problems(sparse=True), st.sampled_from(["csc", "csr"]))
def test_kkt_sparse(prob, fmt):
    Xs = sp.csc_matrix(prob["X"]) if fmt == "csc" else sp.csr_matrix(prob["X"])
    model = fit(prob, X=Xs)
    check_path_kkt(model, Xs, prob["y"], prob["w"], prob["offset"])


@settings(max_examples=30, **SETTINGS)
@given(problems(sparse=True))
def test_kkt_sparse_standardized(prob):
    # The sparse kernel standardises implicitly (x - m) / s without densifying.
    Xs = sp.csc_matrix(prob["X"])
    assume(np.all(prob["X"].std(axis=0) > 1e-6))
    model = fit(prob, X=Xs, standardize=True)
    check_path_kkt(model, Xs, prob["y"], prob["w"], prob["offset"])


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
def test_kkt_default_tolerance(power):
    """With the default tol=1e-8 the conditions hold to the (looser) matching tolerance."""
    X, y, _ = make_problem(11, 60, 6, power)
    model = HDTweedie(power=power, groups=[0, 0, 1, 2, 2, 2], alpha=0.8).fit(X, y)
    assert model.tol == 1e-8
    check_path_kkt(model, X, y)


@settings(max_examples=40, **SETTINGS)
@given(st.integers(0, 2**32 - 1), POWERS, st.sampled_from([1.0, 0.5]))
def test_kkt_user_lambdas_and_penalty_factors(seed, power, alpha):
    """User lambdas (unsorted) and explicit penalty factors, one unpenalised group."""
    X, y, rng = make_problem(seed, 30, 6, power)
    groups = ["u", "v", "u", "w", "v", "x"]
    pf = {"u": 0.0, "v": 2.5, "w": 0.3, "x": 1.0}
    lambdas = rng.uniform(0.001, 0.3, size=8)
    model = HDTweedie(power=power, groups=groups, alpha=alpha, penalty_factor=pf,
                      lambdas=lambdas, tol=1e-12).fit(X, y)
    np.testing.assert_array_equal(model.lambdas_, np.sort(lambdas)[::-1])
    check_path_kkt(model, X, y)
    # The unpenalised group has no lasso part, so it is never exactly zero.
    assert np.all(np.abs(model.coef_path_[[0, 2]]).sum(axis=0) > 0)


def test_kkt_lambda_max_is_tight():
    """At lambda_max the largest group gradient norm equals lambda_max * alpha * pf."""
    X, y, _ = make_problem(5, 50, 6, 1.5)
    groups = [1, 2, 1, 3, 3, 2]
    for alpha in (1.0, 0.4):
        model = HDTweedie(groups=groups, alpha=alpha, tol=1e-12, n_lambdas=10).fit(X, y)
        assert np.all(model.coef_path_[:, 0] == 0)
        assert np.any(model.coef_path_[:, 1] != 0)
        eta = model.intercept_path_[0] + X @ model.coef_path_[:, 0]
        q, _ = _q_and_h(eta, y, np.full(50, 1 / 50), 1.5)
        g = X.T @ q
        ratios = [np.linalg.norm(g[model.group_index_ == k]) / (alpha * model.penalty_factor_[k])
                  for k in range(3)]
        np.testing.assert_allclose(max(ratios), model.lambdas_[0], rtol=1e-6)
        np.testing.assert_allclose(model.lambda_max_, model.lambdas_[0], rtol=1e-12)
        # The reported grid is geometric from lambda_max.
        ratio = model.lambdas_[1:] / model.lambdas_[:-1]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-10)


def test_kkt_unpenalised_group_ridge_quirk_first_lambda():
    """A pf=0 group with alpha<1: every lambda but the first satisfies the KKT conditions.

    The first lambda of a default path is solved at 9.9e30 (the reference's
    "infinite" lambda) and reported as lambda_max; with a ridge part the
    unpenalised group is shrunk to zero there, as in the reference.
    """
    X, y, _ = make_problem(8, 50, 5, 1.5)
    model = HDTweedie(groups=[0, 1, 1, 2, 3], alpha=0.5, penalty_factor=[0, 1, 1, 1],
                      tol=1e-12, n_lambdas=15).fit(X, y)
    check_path_kkt(model, X, y, skip_first=True)
    assert np.all(model.coef_path_[1:, 0] == 0)
    assert abs(model.coef_path_[0, 0]) < 1e-20  # ridge at 9.9e30


@settings(max_examples=40, **SETTINGS)
@given(st.integers(0, 2**32 - 1), POWERS, st.integers(1, 8))
def test_group_lasso_with_singleton_groups_is_the_lasso(seed, power, p):
    X, y, rng = make_problem(seed, 30, p, power)
    labels = [f"g{j}" for j in rng.permutation(p)]
    lasso = HDTweedie(power=power, n_lambdas=15).fit(X, y)
    grouped = HDTweedie(power=power, groups=labels, n_lambdas=15).fit(X, y)
    np.testing.assert_allclose(grouped.lambdas_, lasso.lambdas_, rtol=1e-12)
    np.testing.assert_allclose(grouped.coef_path_, lasso.coef_path_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grouped.intercept_path_, lasso.intercept_path_, rtol=1e-10,
                               atol=1e-12)
    # Same as a dict of one-column groups.
    as_dict = HDTweedie(power=power, groups={f"c{j}": [j] for j in range(p)},
                        n_lambdas=15).fit(X, y)
    np.testing.assert_allclose(as_dict.coef_path_, lasso.coef_path_, rtol=1e-10, atol=1e-12)


@settings(max_examples=40, **SETTINGS)
@given(st.integers(0, 2**32 - 1), POWERS, st.booleans())
def test_integer_weights_equal_repeated_rows(seed, power, grouped):
    X, y, rng = make_problem(seed, 25, 4, power)
    reps = rng.integers(0, 4, size=25)
    reps[np.flatnonzero(y > 0)[0]] += 1
    reps[0] += 1  # at least two rows after repetition
    groups = [0, 1, 0, 1] if grouped else None
    kw = dict(power=power, groups=groups, tol=1e-12, n_lambdas=15, lambda_min_ratio=0.01)
    weighted = HDTweedie(**kw).fit(X, y, sample_weight=reps)
    Xr, yr = np.repeat(X, reps, axis=0), np.repeat(y, reps)
    repeated = HDTweedie(**kw).fit(Xr, yr)
    # Same objective; the two solves differ by rounding and the stopping rule (sqrt(tol)).
    np.testing.assert_allclose(repeated.lambdas_, weighted.lambdas_, rtol=1e-6)
    np.testing.assert_allclose(repeated.coef_path_, weighted.coef_path_, atol=1e-5)
    np.testing.assert_allclose(repeated.intercept_path_, weighted.intercept_path_, atol=1e-5)


def test_warm_restart_from_user_lambdas_matches_path():
    """Refitting on the tail of a path's lambdas gives the same solutions (unique optimum)."""
    X, y, _ = make_problem(3, 60, 5, 1.5)
    full = HDTweedie(tol=1e-12, n_lambdas=20).fit(X, y)
    tail = HDTweedie(tol=1e-12, lambdas=full.lambdas_[10:]).fit(X, y)
    np.testing.assert_allclose(tail.coef_path_, full.coef_path_[:, 10:], atol=1e-5)
    np.testing.assert_allclose(tail.intercept_path_, full.intercept_path_[10:], atol=1e-5)
