"""The kernel's wide-problem (p > n) loops change no value.

The gradient sweep forms four column products per pass over the vector, and the
descent applies each column move in the same pass as the next product.  Each
value must be bit for bit the one-at-a-time loop's, at every instruction-set
level and for any row count (vector remainders) and any position of a column in
the sweep; so the path, pass count and KKT residuals of a p > n problem are the
same whichever columns a sweep happens to hold.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from test_kernel_screening import _both

from hdtweedie import HDTweedie, _cd

ROWS = [1, 3, 7, 8, 9, 17, 31, 64, 500, 1001]


@pytest.fixture
def each_variant():
    """Yields every instruction-set level this CPU runs, restoring the active one."""
    before = _cd.simd_variant()
    try:
        yield _cd.simd_variants()
    finally:
        _cd.set_simd_variant(before)


def _cases(levels, seed, p, standardized):
    """(level, n, X, (xm, xs) or (None, None), rng) at each level and row count, with
    that level active."""
    rng = np.random.default_rng(seed)
    for level in levels:
        _cd.set_simd_variant(level)
        for n in ROWS:
            X = np.asfortranarray(rng.normal(size=(n, p)) * rng.uniform(0.1, 10.0, size=p) + 0.5)
            std = (X.mean(axis=0), X.std(axis=0) + 0.25) if standardized else (None, None)
            yield level, n, X, std, rng


@pytest.mark.parametrize("standardized", [False, True])
def test_sweep_products_are_those_of_single_products(each_variant, standardized):
    for level, n, X, std, rng in _cases(each_variant, 11, 23, standardized):
        v = rng.normal(size=n)
        # Repeats and every length mod 4 put a column at each position of a block.
        for k in (1, 4, 5, 22, 23, 41):
            cols = rng.integers(0, 23, size=k)
            sweep = _cd.column_products(X, v, cols, *std)
            single = _cd.column_products(X, v, cols, *std, sweep=False)
            np.testing.assert_array_equal(sweep, single, err_msg=f"{level} n={n} k={k}")


@pytest.mark.parametrize("standardized", [False, True])
def test_fused_move_and_product_are_the_separate_ones(each_variant, standardized):
    for level, n, X, std, rng in _cases(each_variant, 12, 3, standardized):
        h, v = rng.uniform(0.0, 2.0, size=n), rng.normal(size=n)
        v_before = v.copy()
        for j, k in ((0, 1), (2, 2)):
            d = rng.normal()
            fused = _cd.update_product(X, h, v, j, d, k, *std)
            apart = _cd.update_product(X, h, v, j, d, k, *std, fused=False)
            np.testing.assert_array_equal(fused[0], apart[0], err_msg=f"{level} n={n}")
            assert fused[1] == apart[1], (level, n)
        np.testing.assert_array_equal(v, v_before)


def test_helpers_refuse_bad_shapes():
    X = np.asfortranarray(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"column indices must lie in \[0, 3\), got 0\.\.3"):
        _cd.column_products(X, np.ones(4), [0, 3])
    with pytest.raises(ValueError, match="one per entry of v"):
        _cd.column_products(X, np.ones(5), [0])
    with pytest.raises(ValueError, match="xm and xs must be given together"):
        _cd.column_products(X, np.ones(4), [0], xm=np.zeros(3))
    with pytest.raises(ValueError, match=r"v must have shape \(4,\), got \(2,\)"):
        _cd.update_product(X, np.ones(4), np.ones(2), 0, 1.0, 1)


def _wide(seed, n, p):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    mu = np.exp(0.2 + X[:, :6] @ np.array([0.6, -0.5, 0.4, 0.3, -0.3, 0.2]))
    return X, rng.gamma(1.0, mu) * rng.binomial(1, 0.7, n)


@pytest.mark.parametrize("params", [{}, {"standardize": True}, {"alpha": 0.6},
                                    {"groups": np.repeat(np.arange(150), 3)}])
def test_wide_path_is_the_same_whichever_columns_a_sweep_holds(each_variant, params):
    # Screening changes which columns each sweep computes, and so where each column
    # sits in its block of four: the paths must still agree bit for bit.
    X, y = _wide(21, 83, 450)
    for level in each_variant:
        _cd.set_simd_variant(level)
        off, on = _both(X, y, **params)
        assert on.n_passes == off.n_passes and on.status == off.status == 0
        np.testing.assert_array_equal(on.coefs, off.coefs)
        np.testing.assert_array_equal(on.intercepts, off.intercepts)
        np.testing.assert_array_equal(on.kkt_residuals, off.kkt_residuals)


def _kkt_residuals(X, y, power, model):
    """The kernel's KKT residual (lasso, unit weights), recomputed in numpy per lambda;
    the first lambda is measured at lambda_max (the reported one lies above it)."""
    wn = np.full(y.size, 1.0 / y.size)
    lambdas = np.r_[model.lambda_max_, model.lambdas_[1:]]
    out = []
    for m, lam in enumerate(lambdas):
        b = model.coef_path_[:, m]
        eta = model.intercept_path_[m] + X @ b
        q = wn * y * np.exp(-(power - 1.0) * eta) - wn * np.exp((2.0 - power) * eta)
        g = X.T @ q
        t = np.where(b == 0, np.abs(g) - lam, np.abs(lam * np.sign(b) - g))
        out.append(max(abs(q.sum()), t.max()) / lam)
    return np.array(out)


def test_wide_kkt_residual_is_the_one_recomputed_from_the_path():
    X, y = _wide(22, 70, 600)
    model = HDTweedie(power=1.5).fit(X, y)
    assert model.lambdas_.size > 50 and np.count_nonzero(model.coef_path_[:, -1]) > 20
    np.testing.assert_allclose(model.kkt_residual_, _kkt_residuals(X, y, 1.5, model),
                               rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("params", [
    {}, {"alpha": 0.6}, {"stopping": "kkt"}, {"standardize": True}, {"power": 1.0},
    {"power": 2.0}, {"lambdas": [0.2, 0.05, 0.01, 0.002]},
    {"groups": np.r_[np.arange(300), np.repeat(np.arange(300, 375), 2)]},
])
@pytest.mark.parametrize("layout", ["dense", "sparse", "scaled"])
def test_descent_shortcuts_keep_the_iterates(params, layout):
    # One-column groups skip sqrt(u * u) (it is |u|) and raw columns the divisions by 1:
    # the path must be bit for bit that of the general formulas.
    X, y = _wide(23, 90, 450)
    if params.get("power") == 2.0:
        y = y + 0.1
    if layout == "scaled":  # columns solved rescaled by powers of two
        X[:, :40] *= 1e5
        X[:, 40:80] *= 1e-5
    if layout == "sparse":
        X[np.random.default_rng(5).random(X.shape) > 0.4] = 0.0
        X = sp.csc_matrix(X)
    plain, short = _both(X, y, toggle="shortcuts", **params)
    assert short.n_passes == plain.n_passes and short.status == plain.status == 0
    np.testing.assert_array_equal(short.coefs, plain.coefs)
    np.testing.assert_array_equal(short.intercepts, plain.intercepts)
    np.testing.assert_array_equal(short.kkt_residuals, plain.kkt_residuals)


@given(st.floats(min_value=1e-150, max_value=1e150), st.booleans())
def test_square_root_of_a_square_is_the_absolute_value(u, negative):
    # The claim behind the one-column shortcut, over the range where it is taken.
    u = -u if negative else u
    assert np.sqrt(np.float64(u) * np.float64(u)) == abs(u)
