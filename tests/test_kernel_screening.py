"""Gradient screening in the kernel leaves every iterate unchanged.

The kernel skips the gradient of a group outside the strong set when a bound
(its last gradient norm plus ||X_g||_F times how far q has moved since) shows
it cannot cross the threshold in question.  The path, pass count and KKT
residuals must be bit for bit those of computing every gradient, as R does.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from hdtweedie import HDTweedie, _cd, _path


def _both(X, y, toggle="screen", **params):
    """Kernel outputs with an option (screening by default) off and on, for the
    estimator's checked inputs."""
    data, opts = HDTweedie(**params)._check_inputs(X, y, None, None)
    wn = data.w / data.w.sum()
    prob = _cd.Problem(data.y, wn, data.offset, opts.power, data.groups.cols, data.groups.ptr,
                       data.penalty_factor, opts.alpha)
    if opts.standardize:
        xm, xs = _path.standardization(data.X, None)
    else:
        xm, xs = np.zeros(X.shape[1]), np.ones(X.shape[1])
    outs = []
    for on in (False, True):
        o = _cd.Options(opts.n_lambdas, opts.lambda_min_ratio, opts.lambdas, opts.dfmax,
                        opts.pmax, opts.tol, opts.max_iter, stopping=opts.stopping,
                        **{toggle: on})
        if sp.issparse(data.X):
            outs.append(_cd.solve_path_sparse(data.X.data, data.X.indices, data.X.indptr, xm, xs,
                                              X.shape[0], prob, o))
        else:
            Xk = (data.X - xm) / xs if opts.standardize else data.X
            outs.append(_cd.solve_path_dense(np.asfortranarray(Xk), prob, o))
    return outs


def _wide(seed, n=60, p=400, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    if sparse:
        X[rng.random((n, p)) > 0.3] = 0.0
        X[0] = 1.0
    mu = np.exp(0.3 + X[:, :5] @ np.array([0.5, -0.4, 0.3, 0.2, -0.2]))
    y = rng.gamma(1.0, mu) * rng.binomial(1, 0.7, n)
    return (sp.csc_matrix(X) if sparse else X), y


@pytest.mark.parametrize("params", [
    {}, {"alpha": 0.5}, {"stopping": "kkt"}, {"lambdas": [0.2, 0.05, 0.01, 0.002]},
    {"standardize": True}, {"power": 1.0},
])
@pytest.mark.parametrize("sparse", [False, True])
def test_screening_keeps_the_iterates(params, sparse):
    X, y = _wide(3, sparse=sparse)
    if params.get("power") == 1.0:
        y = np.round(y)
    off, on = _both(X, y, **params)
    assert on.n_passes == off.n_passes and on.status == off.status
    np.testing.assert_array_equal(on.coefs, off.coefs)
    np.testing.assert_array_equal(on.intercepts, off.intercepts)
    np.testing.assert_array_equal(on.kkt_residuals, off.kkt_residuals)
    np.testing.assert_array_equal(on.lambdas, off.lambdas)


def test_screening_keeps_grouped_iterates():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 300))
    y = rng.gamma(1.0, np.exp(0.4 * X[:, 0] - 0.3 * X[:, 4])) * rng.binomial(1, 0.6, 50)
    off, on = _both(X, y, groups=np.repeat(np.arange(100), 3), alpha=0.8)
    assert on.n_passes == off.n_passes
    np.testing.assert_array_equal(on.coefs, off.coefs)


@pytest.mark.parametrize("params", [
    {}, {"alpha": 0.5}, {"stopping": "kkt"}, {"standardize": True}, {"power": 1.0},
    {"groups": np.repeat(np.arange(200), 2)}, {"lambdas": [0.2, 0.05, 0.01, 0.002]},
])
@pytest.mark.parametrize("sparse", [False, True])
def test_extrapolated_screening_keeps_the_iterates(params, sparse):
    # Bounds extrapolated from a group's last two gradients skip more of them; every
    # iterate must stay bit for bit that of screening without them.
    X, y = _wide(4, n=70, p=400, sparse=sparse)
    if params.get("power") == 1.0:
        y = np.round(y)
    plain, extrap = _both(X, y, toggle="extrapolate", **params)
    assert extrap.n_passes == plain.n_passes and extrap.status == plain.status
    np.testing.assert_array_equal(extrap.coefs, plain.coefs)
    np.testing.assert_array_equal(extrap.intercepts, plain.intercepts)
    np.testing.assert_array_equal(extrap.kkt_residuals, plain.kkt_residuals)
    np.testing.assert_array_equal(extrap.lambdas, plain.lambdas)
    assert extrap.n_gradients <= plain.n_gradients


def test_extrapolated_screening_computes_fewer_gradients():
    # Along a path q moves nearly in a plane of its last values: on a wide lasso the
    # extrapolated bounds skip at least a quarter of the gradients screening computes.
    X, y = _wide(6, n=200, p=2000)
    plain, extrap = _both(X, y, toggle="extrapolate")
    none, _ = _both(X, y)
    assert extrap.n_gradients < 0.75 * plain.n_gradients < 0.75 * none.n_gradients
    np.testing.assert_array_equal(extrap.coefs, none.coefs)
