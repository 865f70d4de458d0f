"""Inputs the kernel must never see, and inputs fit must never change."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from hdtweedie import HDTweedie, HDTweedieCV


def make_data(n=60, p=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = rng.poisson(np.exp(0.3 * X[:, 0])) * rng.gamma(2.0, 0.5, size=n)
    return X, y


def _with_index(S, pos, value):
    ind = S.indices.copy()
    ind[pos] = value
    return type(S)((S.data, ind, S.indptr), shape=S.shape)


@pytest.mark.parametrize("bad", [-1, 10**8, 65])
def test_csc_row_index_out_of_range_is_refused(bad):
    X, y = make_data()
    M = _with_index(sp.csc_matrix(X), 3, bad)
    with pytest.raises(ValueError, match=rf"X: row index {bad} is out of range"):
        HDTweedie(n_lambdas=5).fit(M, y)


def test_csr_column_index_out_of_range_is_refused():
    X, y = make_data()
    M = _with_index(sp.csr_matrix(X), 3, 6)
    with pytest.raises(ValueError, match="X: column index 6 is out of range"):
        HDTweedie(n_lambdas=5).fit(M, y)


def test_coo_index_out_of_range_is_refused():
    X, y = make_data()
    M = sp.coo_matrix(X)
    M.col[0] = 9  # scipy checks the indices only in its constructor
    with pytest.raises(ValueError, match="X: column index 9 is out of range"):
        HDTweedie(n_lambdas=5).fit(M, y)


def test_non_monotonic_indptr_is_refused():
    X, y = make_data()
    S = sp.csc_matrix(X)
    ptr = S.indptr.copy()
    ptr[2] = ptr[1] - 3
    M = sp.csc_matrix((S.data, S.indices, ptr), shape=S.shape)
    with pytest.raises(ValueError, match="X: indptr must be non-decreasing"):
        HDTweedie(n_lambdas=5).fit(M, y)


def test_short_indptr_is_refused():
    X, y = make_data()
    S = sp.csc_matrix(X)
    M = sp.csc_matrix((S.data, S.indices, S.indptr), shape=S.shape)
    M.indptr = S.indptr[:-1].copy()
    with pytest.raises(ValueError, match="X: indptr has 4 entries"):
        HDTweedie(n_lambdas=5).fit(M, y)


def test_bad_sparse_is_refused_at_predict_too():
    X, y = make_data()
    m = HDTweedie(n_lambdas=5).fit(X, y)
    with pytest.raises(ValueError, match="X: row index"):
        m.predict(_with_index(sp.csc_matrix(X), 0, -1))


def _unsorted_with_duplicates(X):
    """A CSC whose first column lists its rows backwards and repeats one entry."""
    S = sp.csc_matrix(X)
    k = S.indptr[1]
    data = np.concatenate([S.data[:k][::-1], [0.5], S.data[k:]])
    ind = np.concatenate([S.indices[:k][::-1], [S.indices[0]], S.indices[k:]])
    ptr = S.indptr + np.r_[0, np.ones(S.shape[1], dtype=S.indptr.dtype)]
    M = sp.csc_matrix((data, ind, ptr), shape=S.shape)
    dense = X.copy()
    dense[S.indices[0], 0] += 0.5
    return M, dense


def test_unsorted_duplicate_csc_is_fitted_as_its_sum_and_left_unchanged():
    X, y = make_data()
    M, dense = _unsorted_with_duplicates(X)
    before = (M.data.copy(), M.indices.copy(), M.indptr.copy())
    m = HDTweedie(n_lambdas=10).fit(M, y)
    for got, was in zip((M.data, M.indices, M.indptr), before):
        np.testing.assert_array_equal(got, was)
    assert not M.has_sorted_indices
    ref = HDTweedie(n_lambdas=10).fit(dense, y)
    np.testing.assert_allclose(m.coef_path_, ref.coef_path_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("layout", ["dense", "fortran", "csc", "csr"])
def test_fit_predict_and_cv_leave_the_callers_data_unchanged(layout):
    X, y = make_data(n=80)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2.0, size=80)
    off = rng.normal(scale=0.2, size=80) + 3.0  # centred internally
    Xin = {"dense": X, "fortran": np.asfortranarray(X), "csc": sp.csc_matrix(X),
           "csr": sp.csr_matrix(X)}[layout]
    if sp.issparse(Xin):
        Xin, _ = _unsorted_with_duplicates(X) if layout == "csc" else (Xin, None)
        parts = lambda: (Xin.data.copy(), Xin.indices.copy(), Xin.indptr.copy())  # noqa: E731
    else:
        parts = lambda: (Xin.copy(),)  # noqa: E731
    before, y0, w0, o0 = parts(), y.copy(), w.copy(), off.copy()
    m = HDTweedie(n_lambdas=8).fit(Xin, y, sample_weight=w, offset=off)
    m.predict(Xin, offset=off)
    m.score(Xin, y, sample_weight=w, offset=off)
    HDTweedieCV(n_lambdas=8, n_folds=3, random_state=0).fit(Xin, y, sample_weight=w, offset=off)
    for got, was in zip(parts(), before):
        np.testing.assert_array_equal(got, was)
    for got, was in ((y, y0), (w, w0), (off, o0)):
        np.testing.assert_array_equal(got, was)


@pytest.mark.parametrize("param, value, match", [
    ("n_lambdas", 2**31, "n_lambdas must be in"),
    ("dfmax", 2**40, "dfmax must be in"),
    ("pmax", 2**40, "pmax must be in"),
])
def test_huge_integer_options_are_value_errors(param, value, match):
    X, y = make_data()
    with pytest.raises(ValueError, match=match):
        HDTweedie(**{param: value}).fit(X, y)


def test_too_many_user_lambdas_is_a_value_error():
    X, y = make_data()
    with pytest.raises(ValueError, match="lambdas has 200000 values"):
        HDTweedie(lambdas=np.linspace(1, 0, 200_000)).fit(X, y)


@pytest.mark.parametrize("n_jobs, exc", [(1.5, ValueError), (True, TypeError), (0, ValueError),
                                         ("2", TypeError)])
def test_bad_n_jobs_is_refused(n_jobs, exc):
    X, y = make_data()
    with pytest.raises(exc, match="n_jobs"):
        HDTweedieCV(n_jobs=n_jobs, n_lambdas=5).fit(X, y)


@pytest.mark.parametrize("ids", [
    [0, 1, "a"] * 20,
    pd.Series([0, 1, "a"] * 20, dtype=object),
    np.array([0, 1, "a"] * 20, dtype=object),
])
def test_mixed_fold_ids_name_the_argument(ids):
    X, y = make_data()
    with pytest.raises(ValueError, match=r"fold_ids must be labels of one kind.*\['number', 'str'\]"):
        HDTweedieCV(fold_ids=ids, n_lambdas=5).fit(X, y)


def test_string_fold_ids_still_work():
    X, y = make_data()
    cv = HDTweedieCV(fold_ids=["a", "b", "c"] * 20, n_lambdas=5).fit(X, y)
    np.testing.assert_array_equal(cv.fold_ids_, np.resize([0, 1, 2], 60))


DATES = np.arange(60).astype("datetime64[D]")
DURATIONS = np.arange(60).astype("timedelta64[D]")


@pytest.mark.parametrize("values", [DATES, DURATIONS])
def test_dates_and_durations_are_not_numbers(values):
    X, y = make_data()
    est = HDTweedie(n_lambdas=5)
    with pytest.raises(TypeError, match="X: .*dates or durations"):
        est.fit(np.tile(values[:, None], (1, 2)), y)
    with pytest.raises(TypeError, match="y: .*dates or durations"):
        est.fit(X, values)
    with pytest.raises(TypeError, match="sample_weight: .*dates or durations"):
        est.fit(X, y, sample_weight=values)
    with pytest.raises(TypeError, match="offset: .*dates or durations"):
        est.fit(X, y, offset=list(values))
    frame = pd.DataFrame(X, columns=list("abcd")).assign(when=values)
    with pytest.raises(TypeError, match=r"X: column\(s\) \['when'\] are dates or durations"):
        est.fit(frame, y)
    with pytest.raises(TypeError, match="y: .*dates or durations"):
        est.fit(X, pd.Series(values))
    fitted = HDTweedie(n_lambdas=5).fit(X, y)
    with pytest.raises(TypeError, match="offset: .*dates or durations"):
        fitted.predict(X, offset=values)


def test_timezone_aware_dates_in_a_frame_are_refused():
    X, y = make_data()
    frame = pd.DataFrame(X, columns=list("abcd"))
    frame["when"] = pd.date_range("2020-01-01", periods=60, tz="UTC")
    with pytest.raises(TypeError, match=r"\['when'\] are dates or durations"):
        HDTweedie(n_lambdas=5).fit(frame, y)
