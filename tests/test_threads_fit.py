"""The work of a threaded fit around the kernel: the value check of X, the fingerprint, copies."""

import hashlib
import tracemalloc

import numpy as np
import pytest
import sklearn

from hdtweedie import HDTweedie, _cd
from hdtweedie._checks import _RANGE_TASK, MAX_ABS_X, value_range

# Enough entries for three threads' pieces in value_range, and not a multiple of three.
N_VALUES = 3 * _RANGE_TASK + 777


def _data(n=2 * _cd.ROW_BLOCK + 501, p=6, seed=5):
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.normal(size=(n, p)))
    y = rng.gamma(0.7, np.exp(0.3 * X[:, 0] - 1.0) / 0.7) * (rng.random(n) < 0.6)
    return X, y, rng.uniform(0.5, 2.0, n)


@pytest.mark.parametrize("n", [1, 7, _RANGE_TASK + 1, N_VALUES])
def test_value_range_is_numpy_min_max_for_any_threads(n):
    a = np.random.default_rng(n).normal(size=n) * 1e3
    for k in (1, 2, 3):
        assert value_range(a, k) == (a.min(), a.max())
    F = np.asfortranarray(a[: n - n % 7].reshape(-1, 7)) if n >= 7 else a
    assert value_range(F, 2) == (F.min(), F.max())


@pytest.mark.parametrize("where", [0, N_VALUES // 3, N_VALUES // 2, N_VALUES - 1])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_value_range_finds_one_non_finite_entry_anywhere(where, bad):
    a = np.random.default_rng(1).normal(size=N_VALUES)
    a[where] = bad
    for k in (1, 2, 3):
        lo, hi = value_range(a, k)
        if np.isnan(bad):
            assert np.isnan(lo) and np.isnan(hi)
        else:
            assert (lo, hi) == (a.min(), a.max()) and bad in (lo, hi)


@pytest.mark.parametrize("bad, message", [
    (np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity"),
    (-np.inf, "Input X contains infinity"), (1e120, "X has values of magnitude 1e\\+120"),
])
def test_bad_values_of_X_are_refused_alike_for_any_threads(bad, message):
    X, y, w = _data()
    X[-1, 3] = bad
    before = X.copy()
    for k in (1, 2):
        model = HDTweedie(n_lambdas=5, n_threads=k)
        with pytest.raises(ValueError, match=message):
            model.fit(X, y, sample_weight=w)
        assert not hasattr(model, "coef_")
    np.testing.assert_array_equal(X, before)


def test_X_magnitude_limit_is_inclusive():
    X, y, w = _data(n=300)
    X[5, 0] = -MAX_ABS_X
    HDTweedie(n_lambdas=3, n_threads=2).fit(X, y, sample_weight=w)
    X[5, 0] = -MAX_ABS_X * 1.5
    with pytest.raises(ValueError, match="magnitude 1.5e\\+100, above 1e\\+100"):
        HDTweedie(n_lambdas=3, n_threads=2).fit(X, y, sample_weight=w)


def test_nan_in_X_is_refused_even_when_scikit_learn_assumes_finite():
    X, y, w = _data(n=300)
    X[7, 1] = np.nan
    with sklearn.config_context(assume_finite=True):
        with pytest.raises(ValueError, match="X contains NaN or infinite values"):
            HDTweedie(n_lambdas=3, n_threads=2).fit(X, y, sample_weight=w)


def _canonical_fingerprint(X, y, w, offset):
    """The documented definition, written out: shapes and little-endian float64 bytes."""
    h = hashlib.sha256(b"dense")
    for arr in (np.ascontiguousarray(X.T), y, w, offset):
        h.update(str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr, dtype="<f8").tobytes())
    return "sha256:" + h.hexdigest()


@pytest.mark.parametrize("n_threads", [1, 2])
def test_training_record_is_the_same_when_hashed_beside_the_solve(n_threads):
    X, y, w = _data()
    offset = np.log(w)
    model = HDTweedie(n_lambdas=10, n_threads=n_threads).fit(X, y, sample_weight=w, offset=offset)
    rec = model.training_data_
    assert rec["fingerprint"] == _canonical_fingerprint(X, y, w, offset)
    assert rec["n_rows"] == X.shape[0]
    assert rec["weight_sum"] == float(np.sum(w))
    assert rec["exposure_sum"] == float(np.sum(np.exp(offset)))


def test_fortran_float64_X_is_not_copied_by_a_threaded_fit():
    X, y, w = _data(n=40_000, p=60)
    HDTweedie(n_lambdas=3, n_threads=2).fit(X, y, sample_weight=w)  # imports, caches
    tracemalloc.start()
    try:
        HDTweedie(n_lambdas=3, n_threads=2).fit(X, y, sample_weight=w)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The solver's row vectors (a few times n doubles), far below one copy of X.
    assert peak < X.nbytes / 3
