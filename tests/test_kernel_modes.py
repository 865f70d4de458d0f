"""The kernel's two ways of running the descent give the same path.

Strong sets of at most ``GRAM_MAX`` columns are solved in covariance mode
(passes on X_S' H X_S); larger ones on the n-row working residual.  Both must
follow the same iterates: same passes, same coefficients to rounding.  The
kernel counts its IRLS steps per mode (``PathOutput.steps``), so each test also
checks that the mode it means to exercise is the one that ran.
"""

from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

import hdtweedie._path as path_module
from hdtweedie import HDTweedie, _cd


@pytest.fixture
def kernel_steps(monkeypatch):
    """Returns a function giving the IRLS steps per mode since its last call."""
    seen = []

    def spy_on(real):
        def spy(*args):
            out = real(*args)
            seen.append(out.steps)
            return out
        return spy

    for name in ("solve_path_dense", "solve_path_sparse"):
        monkeypatch.setattr(_cd, name, spy_on(getattr(_cd, name)))

    def steps():
        total = Counter()
        for s in seen:
            total.update(s)
        seen.clear()
        return total
    return steps


def problem(seed, n=300, p=12, density=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    if density is not None:
        X[rng.random((n, p)) > density] = 0.0
    mu = np.exp(0.2 + X[:, :3] @ np.array([0.5, -0.4, 0.3]))
    y = rng.poisson(mu) * rng.gamma(2.0, 0.5, size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    off = rng.normal(scale=0.2, size=n)
    return X, y, w, off


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(groups=[0, 0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 5], alpha=0.6),
    dict(standardize=True, power=1.3),
    dict(power=1.0),
    dict(power=2.0),
])
@pytest.mark.parametrize("sparse", [False, True])
def test_covariance_and_residual_modes_agree(monkeypatch, kernel_steps, kwargs, sparse):
    X, y, w, off = problem(0, density=0.4 if sparse else None)
    if kwargs.get("power") == 2.0:
        y = y + 0.1
    Xf = sp.csc_matrix(X) if sparse else X
    monkeypatch.setattr(path_module, "GRAM_MAX", 64)
    cov = HDTweedie(n_lambdas=30, **kwargs).fit(Xf, y, sample_weight=w, offset=off)
    ran = kernel_steps()
    assert ran["covariance"] > 0 and ran["residual"] == 0
    assert (ran["sparse_unpacked"] > 0) == sparse and ran["sparse_scatter"] == 0
    monkeypatch.setattr(path_module, "GRAM_MAX", 0)
    res = HDTweedie(n_lambdas=30, **kwargs).fit(Xf, y, sample_weight=w, offset=off)
    ran = kernel_steps()
    assert ran["residual"] > 0 and ran["covariance"] == 0
    assert cov.n_passes_ == res.n_passes_
    np.testing.assert_allclose(cov.lambdas_, res.lambdas_, rtol=1e-12)
    np.testing.assert_allclose(cov.coef_path_, res.coef_path_, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(cov.intercept_path_, res.intercept_path_, rtol=1e-9, atol=1e-11)


def test_mode_switches_when_the_strong_set_outgrows_the_limit(monkeypatch, kernel_steps):
    # With a limit of 5 columns the path starts in covariance mode and leaves it.
    X, y, w, off = problem(1, n=200, p=20)
    monkeypatch.setattr(path_module, "GRAM_MAX", 5)
    mixed = HDTweedie(n_lambdas=40).fit(X, y, sample_weight=w)
    ran = kernel_steps()
    assert ran["covariance"] > 0 and ran["residual"] > 0
    monkeypatch.setattr(path_module, "GRAM_MAX", 0)
    res = HDTweedie(n_lambdas=40).fit(X, y, sample_weight=w)
    assert np.count_nonzero(mixed.coef_) > 5
    assert mixed.n_passes_ == res.n_passes_
    np.testing.assert_allclose(mixed.coef_path_, res.coef_path_, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("density", [0.01, 0.3])
def test_sparse_gram_unpacked_or_entry_by_entry_agree(monkeypatch, kernel_steps, density):
    # Covariance mode on CSC input forms X_S' H X_S either from dense row blocks or
    # entry by entry; the choice (by density) must not change the iterates.
    X, y, w, off = problem(2, n=2000, p=10, density=density)
    X[:, 0] = np.where(X[:, 0] == 0, 1.0, X[:, 0])  # keep a signal in a dense column
    Xs = sp.csc_matrix(X)
    fits = []
    for threshold in (0.0, 2.0):  # always unpack; never unpack
        monkeypatch.setattr(path_module, "SPARSE_UNPACK_DENSITY", threshold)
        fits.append(HDTweedie(n_lambdas=30).fit(Xs, y, sample_weight=w, offset=off))
        ran = kernel_steps()
        which, other = ("sparse_unpacked", "sparse_scatter")[::1 if threshold == 0.0 else -1]
        assert ran[which] > 0 and ran[other] == 0 and ran["residual"] == 0
    unpacked, scattered = fits
    assert np.count_nonzero(unpacked.coef_) >= 3
    assert unpacked.n_passes_ == scattered.n_passes_
    np.testing.assert_allclose(unpacked.coef_path_, scattered.coef_path_, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(unpacked.intercept_path_, scattered.intercept_path_, rtol=1e-9,
                               atol=1e-11)
    # And both follow the dense kernel.
    dense = HDTweedie(n_lambdas=30).fit(X, y, sample_weight=w, offset=off)
    assert dense.n_passes_ == unpacked.n_passes_
    np.testing.assert_allclose(dense.coef_path_, unpacked.coef_path_, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("n", [97, 255, 257, 1001])  # the kernel blocks 256 rows
@pytest.mark.parametrize("sparse", [False, True])
def test_gram_blocks_cover_a_partial_last_block(monkeypatch, kernel_steps, n, sparse):
    # n not a multiple of the kernel's row block: the last, partial block counts too.
    X, y, w, off = problem(3, n=n, p=6, density=0.5 if sparse else None)
    Xf = sp.csc_matrix(X) if sparse else X
    cov = HDTweedie(n_lambdas=20).fit(Xf, y, sample_weight=w)
    ran = kernel_steps()
    assert ran["covariance"] > 0 and ran["residual"] == 0
    assert (ran["sparse_unpacked"] > 0) == sparse and ran["sparse_scatter"] == 0
    monkeypatch.setattr(path_module, "GRAM_MAX", 0)
    res = HDTweedie(n_lambdas=20).fit(Xf, y, sample_weight=w)
    assert cov.n_passes_ == res.n_passes_
    np.testing.assert_allclose(cov.coef_path_, res.coef_path_, rtol=1e-9, atol=1e-11)
