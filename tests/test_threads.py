"""n_threads: the kernel's row loops on several threads give the same path, bit for bit."""

import numpy as np
import pytest

from hdtweedie import HDTweedie, HDTweedieCV, _cd
from hdtweedie._options import available_cores, check_n_threads, threads_per_fit

# Enough rows for several of the kernel's fixed row blocks (and a ragged last one).
N_ROWS = 3 * _cd.ROW_BLOCK + 1234


def _tall(n=N_ROWS, p=8, seed=3, shift=0.0):
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.normal(size=(n, p)) + shift)
    mu = np.exp(0.4 * X[:, 0] - 0.3 * X[:, 1] + 0.2 * X[:, 2] - 1.5 - 0.1 * shift)
    y = rng.gamma(0.8, mu / 0.8) * (rng.random(n) < 0.5)
    w = rng.uniform(0.5, 1.5, n)
    return X, y, w


def _same_path(a, b):
    assert np.array_equal(a.coef_path_, b.coef_path_)
    assert np.array_equal(a.intercept_path_, b.intercept_path_)
    assert np.array_equal(a.lambdas_, b.lambdas_)
    assert a.n_passes_ == b.n_passes_
    assert np.array_equal(a.kkt_residual_, b.kkt_residual_)


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("groups", [None, [0, 0, 1, 1, 2, 3, 3, 3]])
def test_path_identical_for_1_2_3_threads(standardize, groups):
    X, y, w = _tall(shift=1.0)
    fits = [HDTweedie(power=1.4, n_lambdas=25, standardize=standardize, groups=groups,
                      n_threads=k).fit(X, y, sample_weight=w) for k in (1, 2, 3)]
    for other in fits[1:]:
        _same_path(fits[0], other)


def _kernel(X, n_threads, gram_max, xm=None, xs=None):
    n, p = X.shape
    y = _tall(n=n, p=p)[1]
    prob = _cd.Problem(y, np.full(n, 1.0 / n), np.zeros(n), 1.5, np.arange(p, dtype=np.int32),
                       np.arange(p + 1, dtype=np.int32), np.ones(p), 1.0)
    opts = _cd.Options(20, 0.01, None, p + 1, p, 1e-8, 10**8, gram_max=gram_max,
                       n_threads=n_threads)
    return _cd.solve_path_dense(X, prob, opts, xm, xs)


@pytest.mark.parametrize("gram_max", [0, _cd.GRAM_MAX])
def test_kernel_modes_identical_across_threads(gram_max):
    # gram_max=0: the residual mode (column updates over the rows); else covariance mode.
    X = _tall(p=12)[0]
    outs = [_kernel(X, k, gram_max) for k in (1, 2, 3)]
    for o in outs[1:]:
        assert np.array_equal(outs[0].coefs, o.coefs)
        assert np.array_equal(outs[0].intercepts, o.intercepts)
        assert outs[0].n_passes == o.n_passes
    assert outs[0].steps["residual" if gram_max == 0 else "covariance"] > 0


@pytest.mark.parametrize("n", [2_000, N_ROWS])
@pytest.mark.parametrize("gram_max", [0, _cd.GRAM_MAX])
def test_on_the_fly_standardisation_equals_the_copy(n, gram_max):
    X = _tall(n=n, p=6, shift=3.0)[0]
    X[:, 2] *= 40.0
    xm = X.mean(axis=0)
    xs = X.std(axis=0)
    before = X.copy()
    lazy = _kernel(X, 2, gram_max, xm, xs)
    copy = _kernel(np.asfortranarray((X - xm) / xs), 1, gram_max)
    assert np.array_equal(lazy.coefs, copy.coefs)
    assert np.array_equal(lazy.intercepts, copy.intercepts)
    assert lazy.n_passes == copy.n_passes
    assert np.array_equal(X, before)


def test_kernel_rejects_half_a_standardisation():
    X = _tall(n=100, p=3)[0]
    with pytest.raises(ValueError, match="xm and xs"):
        _kernel(X, 1, 0, xm=X.mean(axis=0))
    with pytest.raises(ValueError, match="one entry per column"):
        _kernel(X, 1, 0, xm=np.zeros(2), xs=np.ones(2))


@pytest.mark.parametrize("density", [0.01, 0.2])
@pytest.mark.parametrize("standardize", [False, True])
def test_sparse_path_identical_for_1_2_3_threads(density, standardize):
    # The gradient sweeps over CSC columns are spread by column (scatter and unpacked
    # covariance modes by density).
    import scipy.sparse as sp

    X, y, w = _tall(p=12)
    Xs = sp.random(X.shape[0], 12, density=density, format="csc", random_state=4)
    Xs.data = np.abs(Xs.data) + 0.5
    fits = [HDTweedie(power=1.5, n_lambdas=20, standardize=standardize, n_threads=k)
            .fit(Xs, y, sample_weight=w) for k in (1, 2, 3)]
    for other in fits[1:]:
        _same_path(fits[0], other)
    assert fits[0].df_[-1] > 0


def test_cv_identical_across_threads():
    X, y, w = _tall(n=2 * _cd.ROW_BLOCK + 99, p=5)
    cvs = [HDTweedieCV(power=1.5, n_lambdas=8, n_folds=3, random_state=0, n_jobs=j,
                       n_threads=k).fit(X, y, sample_weight=w)
           for j, k in ((1, 1), (1, 2), (2, 2))]
    for cv in cvs[1:]:
        assert np.array_equal(cvs[0].fold_losses_, cv.fold_losses_)
        _same_path(cvs[0].path_, cv.path_)


@pytest.mark.parametrize("value, error, echo", [
    (True, TypeError, "True"), (0, ValueError, "0"), (-2, ValueError, "-2"),
    (1.5, ValueError, "1.5"), ("2", TypeError, "'2'"), ([2], TypeError, r"\[2\]"),
])
def test_bad_n_threads(value, error, echo):
    X, y, w = _tall(n=200, p=3)
    for est in (HDTweedie(n_threads=value), HDTweedieCV(n_threads=value, n_folds=3)):
        with pytest.raises(error, match=f"n_threads.*{echo}"):
            est.fit(X, y)


def test_n_threads_resolution():
    cores = available_cores()
    assert check_n_threads(None) == check_n_threads(-1) == cores
    assert check_n_threads(1) == 1
    assert check_n_threads(np.int64(2)) == min(2, cores)
    assert check_n_threads(10**6) == cores
    with pytest.raises(ValueError, match="n_threads must be at least 1"):
        _cd.Options(5, 0.1, None, 2, 2, 1e-8, 100, n_threads=0)


def test_folds_times_threads_stay_within_the_cores():
    cores = available_cores()
    for n_jobs in (1, 2, cores, 2 * cores):
        per_fit = threads_per_fit(cores, n_jobs)
        assert per_fit == max(1, cores // n_jobs)
        assert per_fit * min(n_jobs, cores) <= cores
    assert threads_per_fit(1, 1) == 1
