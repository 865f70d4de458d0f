"""The KKT stopping rule (``stopping="kkt"``) and the reported ``kkt_residual_``.

The residual is recomputed here with numpy from X, y, the weights, the offset and
the fitted coefficients alone, as defined in ``HDTweedie.kkt_residual_``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from hdtweedie import HDTweedie, HDTweedieCV
from tests.conftest import expect_error, grouped_data, tweedie_data


def kkt_residual(X, y, w, offset, power, alpha, group_index, pf, lam, b0, b):
    """The KKT residual at one lambda, computed independently of the kernel."""
    wn = w / w.sum()
    eta = offset + b0 + X @ b
    q = wn * (y * np.exp(-(power - 1.0) * eta) - np.exp((2.0 - power) * eta))
    grad = -(X.T @ q)  # the loss gradient
    worst = abs(q.sum())
    for g in range(int(group_index.max()) + 1):
        cols = np.flatnonzero(group_index == g)
        bg, gg = b[cols], grad[cols]
        nb = np.linalg.norm(bg)
        if nb == 0:
            viol = max(0.0, np.linalg.norm(gg) - lam * alpha * pf[g])
        else:
            viol = np.linalg.norm(gg + lam * (alpha * pf[g] * bg / nb + (1.0 - alpha) * bg))
        worst = max(worst, viol)
    return worst / lam if lam > 0 else worst


def path_residuals(model, X, y, w=None, offset=None):
    """Independent residuals at every lambda of a fitted model."""
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    n = Xd.shape[0]
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    if model.standardize:
        mean = Xd.mean(axis=0)
        scale = np.sqrt(((Xd - mean) ** 2).mean(axis=0))
        Xd = (Xd - mean) / scale
    out = []
    for k, lam in enumerate(model.lambdas_):
        b, b0 = model.coef_path_[:, k], model.intercept_path_[k]
        if model.standardize:
            b0, b = b0 + mean @ b, b * scale
        out.append(kkt_residual(Xd, y, w, offset, model.power, model.alpha, model.group_index_,
                                model.penalty_factor_, lam, b0, b))
    return np.array(out)


def _cases():
    d = tweedie_data(n=200, p=8, seed=3, weights=True, offset=True)
    Xg, yg, groups = grouped_data(n=150, group_sizes=(2, 3, 1, 4), seed=1)
    ds = tweedie_data(n=200, p=6, seed=5, sparse="csc", density=0.4)
    return {
        "lasso, weights, offset": (d.X, d.y, d.sample_weight, d.offset, {}),
        "groups, alpha 0.6, standardized": (Xg, yg, None, None,
                                            {"groups": groups, "alpha": 0.6,
                                             "standardize": True}),
        "sparse, standardized": (ds.X, ds.y, None, None, {"standardize": True}),
        "power 1, user lambdas with 0": (d.X, np.round(d.y), None, None,
                                         {"power": 1.0, "lambdas": [0.05, 0.01, 0.0]}),
        "y on a large scale": (d.X, d.y * 1e6, None, None, {"n_lambdas": 20}),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_default_rule_reports_the_residual(case):
    X, y, w, off, params = CASES[case]
    m = HDTweedie(**params).fit(X, y, sample_weight=w, offset=off)
    assert m.kkt_residual_.shape == m.lambdas_.shape
    assert np.all(np.isfinite(m.kkt_residual_)) and np.all(m.kkt_residual_ >= 0)
    ours = path_residuals(m, X, y, w, off)
    # Same quantity up to rounding of the gradient (relative to its size, or 1e-12 of lambda).
    np.testing.assert_allclose(m.kkt_residual_, ours, rtol=1e-5, atol=1e-11)


@pytest.mark.parametrize("case", list(CASES))
def test_kkt_rule_certifies_every_lambda(case):
    X, y, w, off, params = CASES[case]
    m = HDTweedie(stopping="kkt", tol=1e-8, **params).fit(X, y, sample_weight=w, offset=off)
    assert m.status_ == 0
    assert np.all(m.kkt_residual_ <= 1e-8)
    ours = path_residuals(m, X, y, w, off)
    assert np.all(ours <= 1e-8 + 1e-11), ours.max()


def test_default_rule_is_unchanged_and_kkt_tighter():
    d = tweedie_data(n=300, p=10, seed=7)
    r = HDTweedie().fit(d.X, d.y)
    r2 = HDTweedie(stopping="r").fit(d.X, d.y)
    np.testing.assert_array_equal(r.coef_path_, r2.coef_path_)
    k = HDTweedie(stopping="kkt").fit(d.X, d.y)
    np.testing.assert_array_equal(r.lambdas_, k.lambdas_)
    assert r.kkt_residual_.max() > 1e-8 >= k.kkt_residual_.max()
    assert k.n_passes_ > r.n_passes_


def test_cv_passes_the_rule_on():
    d = tweedie_data(n=150, p=5, seed=2)
    cv = HDTweedieCV(stopping="kkt", n_lambdas=20, n_folds=3, random_state=0).fit(d.X, d.y)
    assert np.all(cv.kkt_residual_ <= 1e-8)
    assert np.all(cv.path_.kkt_residual_ == cv.kkt_residual_)


@pytest.mark.parametrize("bad", ["R", "kkt ", "", None, 1, ["kkt"]])
@pytest.mark.parametrize("cls", [HDTweedie, HDTweedieCV])
def test_bad_stopping_is_refused(cls, bad):
    d = tweedie_data(n=30, p=3, seed=0)
    info = expect_error(lambda: cls(stopping=bad).fit(d.X, d.y), "stopping", ValueError)
    assert repr(bad) in str(info.value)


def test_objective_matches_glum():
    glum = pytest.importorskip("glum")
    rng = np.random.default_rng(11)
    n, p = 2000, 12
    X = rng.normal(size=(n, p))
    w = rng.uniform(0.1, 1.0, n)
    mu = np.exp(-0.5 + X[:, :4] @ np.array([0.4, -0.3, 0.2, 0.1]))
    y = rng.gamma(1.0, mu) * rng.binomial(1, 0.5, n) / 0.5
    m = HDTweedie(stopping="kkt", n_lambdas=15, lambda_min_ratio=0.01).fit(X, y, sample_weight=w)
    lams = m.lambdas_[1:]  # the first is the null model on both sides
    g = glum.GeneralizedLinearRegressor(
        family=glum.TweedieDistribution(1.5), link="log", alpha=lams, l1_ratio=1.0,
        P1=m.penalty_factor_, alpha_search=True, solver="irls-cd", gradient_tol=1e-12,
    ).fit(X, y, sample_weight=w)

    def objective(b0, b, lam):
        # HDTweedie's objective: half the weighted mean unit deviance, up to a term in y.
        eta = b0 + X @ b
        loss = (w / w.sum()) @ (y * np.exp(-0.5 * eta) / 0.5 + np.exp(0.5 * eta) / 0.5)
        return loss + lam * (m.penalty_factor_ @ np.abs(b))

    ours = np.array([objective(m.intercept_path_[k + 1], m.coef_path_[:, k + 1], lam)
                     for k, lam in enumerate(lams)])
    theirs = np.array([objective(g.intercept_path_[k], np.asarray(g.coef_path_)[k], lam)
                       for k, lam in enumerate(lams)])
    gap = np.abs(ours - theirs) / np.abs(theirs)
    assert gap.max() < 1e-6, gap
