"""Malformed inputs: a clear ValueError/TypeError naming the argument, never a crash or a hang.

Every case here must raise ``ValueError`` or ``TypeError`` (the exact type where
it matters) whose message contains the argument's name as a word.  Sparse
matrices with corrupt structure can abort the interpreter, so they run in a
child process.  Valid but extreme inputs are in ``test_fuzz_extreme.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from hdtweedie import HDTweedie, HDTweedieCV

from conftest import expect_error, isolated_result, names_argument, small_data

N, P = 12, 3
NAN, INF = float("nan"), float("inf")


def data(seed=0):
    return small_data(seed, N, P)


# --------------------------------------------------------------------------------------
# Hyper-parameters
# --------------------------------------------------------------------------------------
BAD_PARAMS = {
    "power": [-1.0, 0.0, 0.999, 2.001, 3, NAN, INF, "1.5", None, True, 1 + 2j],
    "alpha": [0.0, -0.1, 1.0001, 2, NAN, INF, "a", None, [0.5]],
    "n_lambdas": [0, -3, 2.5, NAN, INF, "10", None, True, [10]],
    "lambda_min_ratio": [0.0, -0.1, 1.0, 1.5, NAN, INF, "x", [0.1]],
    "lambdas": [[-1.0, 0.5], [NAN, 0.1], [INF], "abc", [], ["a", "b"], [0.1, None],
                -0.5],
    "penalty_factor": [[1.0, 1.0], [1, 1, 1, 1], [1.0, -1.0, 1.0], [NAN, 1, 1], [INF, 1, 1],
                       "abc", [0.0, 0.0, 0.0], ["a", "b", "c"], {"nope": 1.0},
                       {0: "x"}, {0: NAN}, {0: -2.0}],
    "groups": [[0, 1], [0, 1, 2, 3], "abc", {"a": []}, {"a": [0, 1], "b": [5]},
               {"a": [0, 1], "b": [1, 2]}, {"a": [0, 1]}, [0, NAN, 1], [[0], [1], [2]],
               {"a": [0, 1], "b": ["missing_column"]}, {"a": [0, 1], "b": [2.5]},
               {"a": [0, 1], "b": [True]}],
    "dfmax": [-1, 1.5, "x", NAN],
    "pmax": [-1, 1.5, "x", NAN],
    "standardize": ["yes", 1, None, [True]],
    "tol": [0.0, -1e-8, NAN, INF, "x", None],
    "max_iter": [0, -5, 1.5, NAN, "x", 1e30],
}
PARAM_CASES = [pytest.param(k, v, id=f"{k}={v!r}") for k, vals in BAD_PARAMS.items()
               for v in vals]


@pytest.mark.parametrize("name, value", PARAM_CASES)
def test_bad_hyperparameter(name, value):
    X, y = data()
    expect_error(lambda: HDTweedie(**{name: value}).fit(X, y), name)


@pytest.mark.parametrize("name, value", PARAM_CASES[::3])
def test_bad_hyperparameter_cv(name, value):
    X, y = data()
    expect_error(lambda: HDTweedieCV(n_folds=3, **{name: value}).fit(X, y), name)


BAD_CV_PARAMS = {
    "n_folds": [2, 1, 0, -3, N + 1, 2.5, "5", None, NAN],
    "fold_ids": [np.zeros(N), np.repeat([0, 1], N // 2), np.arange(N - 1) % 3,
                 np.arange(N + 1) % 3, "abc", np.r_[np.arange(N - 1) % 3, NAN],
                 np.array([0, 1, "a"] * (N // 3), dtype=object)],
    "loss": ["foo", 1],
    "select": ["lambda_max", None, 0],
    "random_state": ["abc", -1, 1.5],
    "n_jobs": ["x", 1.5, [2]],
}


@pytest.mark.parametrize("name, value", [pytest.param(k, v, id=f"{k}-{i}")
                                         for k, vals in BAD_CV_PARAMS.items()
                                         for i, v in enumerate(vals)])
def test_bad_cv_parameter(name, value):
    X, y = data()
    expect_error(lambda: HDTweedieCV(n_lambdas=5, **{name: value}).fit(X, y), name)


# --------------------------------------------------------------------------------------
# fit arguments
# --------------------------------------------------------------------------------------
def _bad_X():
    X, _ = data()
    out = []
    for label, val in [
        ("1d", X[:, 0]), ("3d", X[:, :, None]), ("nan", np.where(np.eye(N, P) > 0, NAN, X)),
        ("inf", np.where(np.eye(N, P) > 0, INF, X)), ("huge", np.where(np.eye(N, P) > 0, 1e200, X)),
        ("no_rows", np.zeros((0, P))), ("no_cols", np.zeros((N, 0))), ("one_row", X[:1]),
        ("strings", np.full((N, P), "a")), ("none", None), ("str", "abc"),
        ("complex", X + 1j), ("ragged", [[1.0, 2.0], [3.0]] * (N // 2)),
        ("object", np.array([[1.0, "x", 2.0]] * N, dtype=object)),
        ("sparse_nan", sp.csc_matrix(np.where(np.eye(N, P) > 0, NAN, X))),
        ("sparse_huge", sp.csr_matrix(np.where(np.eye(N, P) > 0, -1e200, X))),
        ("sparse_no_rows", sp.csc_matrix((0, P))), ("sparse_no_cols", sp.csc_matrix((N, 0))),
    ]:
        out.append(pytest.param(val, id=label))
    return out


@pytest.mark.parametrize("X", _bad_X())
def test_bad_X(X):
    _, y = data()
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(X, y), "X")
    expect_error(lambda: HDTweedieCV(n_lambdas=5, n_folds=3).fit(X, y), "X")


def test_bad_X_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = data()
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["b"] = ["u"] * N
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(df, y), "X")
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df.loc[3, "c"] = np.nan
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(df, y), "X")


BAD_FIT_ARGS = {
    "y": [np.ones(N - 1), np.ones(N + 1), np.r_[NAN, np.ones(N - 1)],
          np.r_[INF, np.ones(N - 1)], np.r_[-1.0, np.ones(N - 1)], np.r_[1e200, np.ones(N - 1)],
          np.ones((N, 2)), ["a"] * N, None, "abc", np.zeros(N), np.ones(N) + 1j],
    "sample_weight": [np.ones(N - 1), np.r_[NAN, np.ones(N - 1)], np.r_[INF, np.ones(N - 1)],
                      np.r_[-1.0, np.ones(N - 1)], np.zeros(N), ["a"] * N, np.ones((N, 2)),
                      -1.0, NAN, "abc"],
    "offset": [np.ones(N + 1), np.r_[NAN, np.zeros(N - 1)], np.r_[INF, np.zeros(N - 1)],
               np.r_[1e200, np.zeros(N - 1)], np.full(N, 800.0), ["a"] * N, np.ones((N, 2)),
               NAN, "abc"],
}


@pytest.mark.parametrize("name, value", [pytest.param(k, v, id=f"{k}-{i}")
                                         for k, vals in BAD_FIT_ARGS.items()
                                         for i, v in enumerate(vals)])
def test_bad_fit_argument(name, value):
    X, y = data()
    kwargs = {"y": y}
    kwargs[name] = value
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(X, **kwargs), name)
    expect_error(lambda: HDTweedieCV(n_lambdas=5, n_folds=3).fit(X, **kwargs), name)


def test_power_two_zero_response_names_y():
    X, y = data()
    y[1] = 0.0
    expect_error(lambda: HDTweedie(power=2).fit(X, y), "y")


def test_dataframe_groups_naming_missing_columns():
    pd = pytest.importorskip("pandas")
    X, y = data()
    df = pd.DataFrame(X, columns=["age", "area", "fuel"])
    expect_error(lambda: HDTweedie(groups={"g": ["age", "area"], "h": ["fule"]}).fit(df, y),
                 "groups")
    expect_error(lambda: HDTweedie(groups={"g": ["age", "area"], "h": []}).fit(df, y),
                 "groups")
    expect_error(lambda: HDTweedie(groups={"g": ["age", "area", "fuel"]},
                                   penalty_factor={"h": 1.0}).fit(df, y), "penalty_factor")


# --------------------------------------------------------------------------------------
# Using a fitted model
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    X, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (HDTweedie(n_lambdas=8).fit(X, y),
                HDTweedieCV(n_lambdas=8, n_folds=3, random_state=0).fit(X, y))


@pytest.mark.parametrize("which", [0, 1])
def test_bad_predict_arguments(fitted, which):
    model = fitted[which]
    X, y = data()
    expect_error(lambda: model.predict(X[:, :2]), "X")
    expect_error(lambda: model.predict(np.where(np.eye(N, P) > 0, NAN, X)), "X")
    expect_error(lambda: model.predict(X[:, 0]), "X")
    expect_error(lambda: model.predict(X, s=-1.0), "s")
    expect_error(lambda: model.predict(X, s=NAN), "s")
    expect_error(lambda: model.predict(X, s=[0.1, INF]), "s")
    expect_error(lambda: model.predict(X, s="lambda_foo"), "s")
    expect_error(lambda: model.predict(X, kind="foo"), "kind")
    expect_error(lambda: model.predict(X, offset=np.zeros(N + 1)), "offset")
    expect_error(lambda: model.predict(X, offset=np.full(N, NAN)), "offset")
    expect_error(lambda: model.predict_path(X, kind="foo"), "kind")
    expect_error(lambda: model.predict_path(X[:, :2]), "X")
    expect_error(lambda: model.coef_at(-1.0), "s")
    expect_error(lambda: model.coef_at(NAN), "s")
    expect_error(lambda: model.score(X, y[:-1]), "y")
    expect_error(lambda: model.score(X, -y), "y")
    expect_error(lambda: model.score(X, y, sample_weight=-np.ones(N)), "sample_weight")


def test_predict_string_s_on_path_estimator(fitted):
    X, _ = data()
    expect_error(lambda: fitted[0].predict(X, s="lambda_min"), "s")


# --------------------------------------------------------------------------------------
# Random corruption (hypothesis): one argument at a time, from the pools above
# --------------------------------------------------------------------------------------
@given(st.data())
def test_random_single_corruption(draw):
    X, y = data(draw.draw(st.integers(0, 5)))
    target = draw.draw(st.sampled_from(sorted(BAD_PARAMS) + sorted(BAD_FIT_ARGS)))
    pool = BAD_PARAMS.get(target) or BAD_FIT_ARGS[target]
    value = draw.draw(st.sampled_from(pool))
    cv = draw.draw(st.booleans())
    sparse = draw.draw(st.booleans())
    Xf = sp.csr_matrix(X) if sparse else X
    est = HDTweedieCV(n_folds=3, n_lambdas=5) if cv else HDTweedie(n_lambdas=5)
    fit_kw = {"y": y}
    if target in BAD_PARAMS:
        est.set_params(**{target: value})
    else:
        fit_kw[target] = value
    expect_error(lambda: est.fit(Xf, **fit_kw), target)




def test_a_list_of_powers_is_for_cross_validation_only():
    # HDTweedieCV chooses among several powers; the path estimator takes one.
    X, y = data()
    expect_error(lambda: HDTweedie(power=[1.5], n_lambdas=5).fit(X, y), "power")


# --------------------------------------------------------------------------------------
# Integers too large for the solver's counters: ValueError, not MemoryError/OverflowError
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, value", [("n_lambdas", 2**31), ("n_lambdas", 2**63),
                                         ("dfmax", 2**40), ("pmax", 2**40), ("max_iter", 2**70)],
                         ids=repr)
def test_huge_integer_parameters(name, value):
    X, y = data()
    expect_error(lambda: HDTweedie(**{name: value}).fit(X, y), name, ValueError)
    expect_error(lambda: HDTweedieCV(n_folds=3, **{name: value}).fit(X, y), name, ValueError)


def test_fractional_n_jobs_is_a_value_error():
    X, y = data()
    expect_error(lambda: HDTweedieCV(n_lambdas=5, n_folds=3, n_jobs=1.5).fit(X, y), "n_jobs",
                 ValueError)


# --------------------------------------------------------------------------------------
# Dates and durations are not numbers
# --------------------------------------------------------------------------------------
def _temporal(kind, shape):
    unit = "datetime64[D]" if kind == "datetime" else "timedelta64[s]"
    return np.arange(int(np.prod(shape))).reshape(shape).astype(unit)


@pytest.mark.parametrize("kind", ["datetime", "timedelta"])
@pytest.mark.parametrize("name", ["X", "y", "sample_weight", "offset"])
def test_temporal_arrays_are_refused(name, kind):
    X, y = data()
    args = {"X": X, "y": y}
    args[name] = _temporal(kind, X.shape if name == "X" else (N,))
    Xa = args.pop("X")
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(Xa, **args), name, TypeError)
    expect_error(lambda: HDTweedieCV(n_lambdas=5, n_folds=3).fit(Xa, **args), name, TypeError)


@pytest.mark.parametrize("kind", ["datetime", "timedelta"])
def test_temporal_dataframe_column_is_refused(kind):
    pd = pytest.importorskip("pandas")
    X, y = data()
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["b"] = _temporal(kind, (N,))
    expect_error(lambda: HDTweedie(n_lambdas=5).fit(df, y), "X", TypeError)
    fitted = HDTweedie(n_lambdas=5).fit(X, y)
    expect_error(lambda: fitted.predict(_temporal(kind, X.shape)), "X", TypeError)


# --------------------------------------------------------------------------------------
# Sparse matrices with corrupt structure (built with scipy's public constructors)
# --------------------------------------------------------------------------------------
def _corrupt_sparse():
    d = np.ones(4)
    tail = np.full(N - 3, 4)
    return {
        "csc row index -1": sp.csc_matrix((d, [0, -1, 2, 3], [0, 2, 3, 4]), shape=(N, P)),
        "csc row index 10**8": sp.csc_matrix((d, [0, 10**8, 2, 3], [0, 2, 3, 4]), shape=(N, P)),
        "csc row index n+5": sp.csc_matrix((d, [0, N + 5, 2, 3], [0, 2, 3, 4]), shape=(N, P)),
        "csc decreasing indptr": sp.csc_matrix((d, [0, 1, 2, 3], [0, 3, 1, 4]), shape=(N, P)),
        "csr column index p+2": sp.csr_matrix((d, [0, P + 2, 1, 2], np.r_[0, 2, 3, 4, tail]),
                                              shape=(N, P)),
        "csr column index -1": sp.csr_matrix((d, [0, -1, 1, 2], np.r_[0, 2, 3, 4, tail]),
                                             shape=(N, P)),
        "csr decreasing indptr": sp.csr_matrix((d, [0, 1, 2, 0], np.r_[0, 3, 1, 4, tail]),
                                               shape=(N, P)),
    }


def isolated_cases(group):
    """Cases run in a child process (see conftest.run_isolated): ``{name: callable}``."""
    X, y = data()
    cases = {}
    fitted = HDTweedie(n_lambdas=5).fit(X, y)
    for label, Xs in _corrupt_sparse().items():
        cases[f"fit {label}"] = lambda Xs=Xs: HDTweedie(n_lambdas=5).fit(Xs, y)
        cases[f"cv {label}"] = lambda Xs=Xs: HDTweedieCV(n_lambdas=5, n_folds=3).fit(Xs, y)
        cases[f"predict {label}"] = lambda Xs=Xs: fitted.predict(Xs)
    return cases


@pytest.mark.parametrize("verb", ["fit", "cv", "predict"])
@pytest.mark.parametrize("label", list(_corrupt_sparse()))
def test_corrupt_sparse_structure_names_X(label, verb):
    rec = isolated_result(__name__, "sparse", f"{verb} {label}", timeout=60)
    assert rec["outcome"] == "error" and rec["type"] == "ValueError", rec
    assert names_argument(rec["message"], "X"), rec["message"]


def _messy_csc():
    """Unsorted row indices within columns and duplicate entries (summed by scipy on demand)."""
    rng = np.random.default_rng(11)
    rows = np.r_[rng.permutation(N), rng.permutation(N)[:8], rng.permutation(N)]
    cols = np.r_[np.zeros(N, int), np.ones(8, int), np.full(N, 2)]
    vals = rng.normal(size=rows.size)
    # Two extra copies of (3, 0) and (5, 2): duplicates.
    rows, cols = np.r_[rows, 3, 5], np.r_[cols, 0, 2]
    vals = np.r_[vals, 0.7, -0.4]
    order = np.argsort(cols, kind="stable")  # column-major, rows left unsorted
    indptr = np.r_[0, np.cumsum(np.bincount(cols, minlength=P))]
    return sp.csc_matrix((vals[order], rows[order], indptr), shape=(N, P))


@pytest.mark.parametrize("fmt", ["csc", "csr"])
def test_unsorted_and_duplicate_sparse_entries_fit_without_touching_X(fmt):
    Xs = _messy_csc() if fmt == "csc" else _messy_csc().tocsr()
    Xs.has_sorted_indices = False  # scipy's cached flag must not be trusted either
    assert not Xs.has_canonical_format
    _, y = data()
    before = (Xs.data.copy(), Xs.indices.copy(), Xs.indptr.copy())
    dense = Xs.toarray()  # toarray sums duplicates without changing Xs
    model = HDTweedie(n_lambdas=8).fit(Xs, y)
    reference = HDTweedie(n_lambdas=8).fit(dense, y)
    np.testing.assert_allclose(model.coef_path_, reference.coef_path_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.lambdas_, reference.lambdas_, rtol=1e-12)
    np.testing.assert_allclose(model.predict(Xs), reference.predict(dense), rtol=1e-10)
    HDTweedieCV(n_lambdas=5, n_folds=3, random_state=0).fit(Xs, y)
    for got, want in zip((Xs.data, Xs.indices, Xs.indptr), before):
        np.testing.assert_array_equal(got, want)
