"""Input validation.  The compiled kernel trusts its inputs; everything is checked here."""

from __future__ import annotations

import numbers
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array
from sklearn.utils.validation import column_or_1d, validate_data

from ._frames import temporal_dtype, to_pandas

# Beyond this magnitude the Hessian products X' diag(h) X overflow float64.
MAX_ABS_X = 1e100
MAX_ABS_Y = 1e100
# exp(offset) must stay finite.
MAX_ABS_OFFSET = 700.0


def named(name, fn, *args, **kwargs):
    """Call a converter; make any ValueError/TypeError it raises name the argument.

    Parameters
    ----------
    name : str
        The argument's name, prefixed to messages that do not contain it.
    fn : callable
        Called as ``fn(*args, **kwargs)``.

    Returns
    -------
    object
        What ``fn`` returns.
    """
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", msg):
            raise
        raise type(exc)(f"{name}: {msg}") from None


def check_scalar(value, name, kind, *, low=None, high=None, low_open=False, high_open=False,
                 allow_none=False):
    """Check a scalar hyper-parameter and return it as ``kind`` (int or float).

    Parameters
    ----------
    value : object
    name : str
        Named in error messages.
    kind : {int, float}
    low, high : float, optional
        Bounds, closed unless ``low_open``/``high_open``.
    allow_none : bool
        Return None for None.

    Returns
    -------
    int, float or None

    Raises
    ------
    TypeError, ValueError
        Naming ``name`` and echoing ``value``.
    """
    if value is None and allow_none:
        return None
    if kind is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if not ok and isinstance(value, float) and value.is_integer():
            ok = True
    else:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok:
        raise TypeError(f"{name} must be {'an integer' if kind is int else 'a real number'}, "
                        f"got {value!r}")
    value = kind(value)
    if kind is float and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    bad = False
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")
    return value


# Entries per task of a threaded value_range at least (a task outweighs its hand-off).
_RANGE_TASK = 1 << 20


def value_range(arr: np.ndarray, n_threads: int = 1) -> tuple[float, float]:
    """Smallest and largest entry of ``arr``; NaN when an entry is NaN.

    With ``n_threads > 1`` a large array is cut into that many pieces reduced
    in threads (numpy's reductions release the GIL); min and max do not round,
    so the result is the same for any number of threads.

    Parameters
    ----------
    arr : ndarray
        Not empty; contiguous (in any order) when threads are used.
    n_threads : int

    Returns
    -------
    lo, hi : float
    """
    k = min(n_threads, arr.size // _RANGE_TASK)
    if k <= 1:
        return float(arr.min()), float(arr.max())
    pieces = np.array_split(np.ravel(arr, order="K"), k)
    with ThreadPoolExecutor(max_workers=k, thread_name_prefix="hdtweedie-check") as pool:
        ends = np.array(list(pool.map(lambda a: (a.min(), a.max()), pieces)))
    # numpy's min and max carry a NaN through, unlike Python's.
    return float(ends[:, 0].min()), float(ends[:, 1].max())


def _check_finite(arr, name, limit):
    if arr.size == 0:
        return
    # Two reductions instead of isfinite/abs masks: no temporary the size of X.
    lo, hi = value_range(arr)
    if not (np.isfinite(hi) and np.isfinite(lo)):
        bad = arr[~np.isfinite(arr)]
        raise ValueError(f"{name} contains NaN or infinite values (e.g. {bad.flat[0]})")
    _check_magnitude(max(hi, -lo), name, limit)


def _check_magnitude(magnitude: float, name: str, limit: float) -> None:
    if magnitude > limit:
        raise ValueError(
            f"{name} has values of magnitude {magnitude:.3g}, above {limit:.0e}; rescale it"
        )


def refuse_datetime(value, name: str) -> None:
    """Dates and durations are not numbers to a model: refuse them before they convert.

    Parameters
    ----------
    value : object
    name : str
        Named in the error.

    Raises
    ------
    TypeError
        When ``value`` (an array, a Series, a DataFrame or a list) holds
        datetime64 or timedelta64 values.
    """
    dtypes = getattr(value, "dtypes", None)
    if dtypes is not None and hasattr(value, "columns"):
        # a dtype without a numpy kind code is not a date ("" in "mM" would say it is)
        bad = [str(c) for c, t in zip(value.columns, dtypes) if getattr(t, "kind", "") in ("m", "M")]
    elif (temporal := temporal_dtype(value)) is not None:
        bad = [temporal]
    else:
        dtype = getattr(value, "dtype", None)
        if dtype is None and isinstance(value, (list, tuple)):
            try:
                dtype = np.asarray(value).dtype
            except (TypeError, ValueError):  # ragged: the converter reports it
                dtype = None
        bad = [] if dtype is None or getattr(dtype, "kind", "") not in ("m", "M") else [str(dtype)]
    if bad:
        what = f"column(s) {bad[:5]}" if hasattr(value, "columns") else f"values of dtype {bad[0]}"
        raise TypeError(f"{name}: {what} are dates or durations, not numbers; convert them "
                        f"first (e.g. to days or years as floats)")


def check_sparse_structure(X, name: str = "X") -> None:
    """Check the index arrays of a sparse matrix before anything converts or reads it.

    scipy's constructors accept out-of-range or unordered indices; converting or
    solving on them reads outside the arrays.

    Parameters
    ----------
    X : scipy sparse matrix or array
    name : str

    Raises
    ------
    ValueError
        Naming ``name`` and the bad index, pointer or length.
    """
    n, p = X.shape
    if X.format in ("csc", "csr"):
        major, minor = (p, n) if X.format == "csc" else (n, p)
        kind = "row" if X.format == "csc" else "column"
        ptr, idx = np.asarray(X.indptr), np.asarray(X.indices)
        if ptr.ndim != 1 or ptr.size != major + 1:
            raise ValueError(f"{name}: indptr has {ptr.size} entries; a {X.format.upper()} matrix "
                             f"of shape {X.shape} needs {major + 1}")
        if ptr[0] != 0:
            raise ValueError(f"{name}: indptr must start at 0, got {ptr[0]}")
        steps = np.diff(ptr)
        if np.any(steps < 0):
            at = int(np.flatnonzero(steps < 0)[0])
            raise ValueError(f"{name}: indptr must be non-decreasing; indptr[{at}] = {ptr[at]} > "
                             f"indptr[{at + 1}] = {ptr[at + 1]}")
        nnz = int(ptr[-1])
        if idx.ndim != 1 or idx.size < nnz or np.asarray(X.data).size < nnz:
            raise ValueError(f"{name}: indptr ends at {nnz} but indices has {idx.size} and data "
                             f"{np.asarray(X.data).size} entries")
        _check_index_range(idx[:nnz], minor, f"{name}: {kind} index")
    elif X.format == "coo":
        _check_index_range(np.asarray(X.row), n, f"{name}: row index")
        _check_index_range(np.asarray(X.col), p, f"{name}: column index")


def _check_index_range(idx: np.ndarray, size: int, what: str) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise ValueError(f"{what} {bad} is out of range for size {size}")


def check_X(X, estimator=None, reset=True, min_samples=2, n_threads: int = 1):
    """Validate X and return ``(X, feature_names)``.

    Conversion goes through scikit-learn's ``validate_data`` (which also records
    ``n_features_in_``/``feature_names_in_`` on ``estimator`` when ``reset``, and
    checks them otherwise).  Dense input becomes a Fortran-ordered float64 array
    (copied only when it is not one already); sparse input becomes CSC float64
    with sorted int32 indices.  X itself is never modified: a sparse X with
    unsorted or duplicate entries is canonicalised on a copy.

    A polars DataFrame or an Arrow table is read as the pandas DataFrame it
    converts to (:func:`hdtweedie._frames.to_pandas`): its column names become
    ``feature_names_in_`` and its nulls meet the same missing-value check.

    Parameters
    ----------
    X : array-like, DataFrame (pandas, polars or Arrow) or sparse matrix
    estimator : BaseEstimator, optional
    reset : bool
        Record (True, in fit) or check (False) the fitted feature names.
    min_samples : int
    n_threads : int
        Threads for the pass over a dense X that looks for NaN, infinite and
        too large values (one pass, as the fit's row loops).

    Returns
    -------
    X : ndarray or scipy.sparse.csc_matrix
    feature_names : ndarray of str or None

    Raises
    ------
    TypeError, ValueError
        Naming X.
    """
    if X is None or isinstance(X, (str, bytes)):
        raise TypeError(f"X must be an array-like of numbers, got {type(X).__name__}")
    X = to_pandas(X, "X")
    refuse_datetime(X, "X")
    if sp.issparse(X):
        check_sparse_structure(X, "X")
    if hasattr(X, "columns") and hasattr(X, "dtypes"):
        # numpy and pandas extension dtypes both carry a numpy-style kind code.
        non_numeric = [str(c) for c, t in zip(X.columns, X.dtypes)
                       if getattr(t, "kind", "O") not in "biuf"]
        if non_numeric:
            raise TypeError(f"X: column(s) {non_numeric[:5]} are not numeric; "
                            f"encode rating factors first (hdtweedie.FactorEncoder)")
    # Dense values are checked below in one threaded pass (and, when one is not
    # finite, again by scikit-learn, for its message).
    kwargs = dict(accept_sparse=("csc", "csr", "coo"), dtype=np.float64, order="F",
                  ensure_min_samples=min_samples, ensure_all_finite=sp.issparse(X))
    if estimator is not None:
        out = named("X", validate_data, estimator, X, reset=reset, **kwargs)
        names = getattr(estimator, "feature_names_in_", None)
    else:
        out = named("X", check_array, X, **kwargs)
        names = None
    if sp.issparse(out):
        out = sp.csc_matrix(out, dtype=np.float64)
        if not out.has_canonical_format:
            # Sorting and summing work in place, and out may share X's arrays.
            out = out.copy()
            out.sum_duplicates()
        out.indices = out.indices.astype(np.int32, copy=False)
        out.indptr = out.indptr.astype(np.int32, copy=False)
        _check_finite(out.data, "X", MAX_ABS_X)
    else:
        _check_dense_X(out, estimator, n_threads)
    return out, (np.asarray(names, dtype=object) if names is not None else None)


def _check_dense_X(X: np.ndarray, estimator, n_threads: int) -> None:
    """Refuse NaN, infinite or too large entries of a converted dense X (min and max only)."""
    lo, hi = value_range(X, n_threads)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        # scikit-learn's own error (NaN or infinity, and advice on missing values); under
        # its assume_finite setting it passes, and the plain check raises.
        named("X", check_array, X, ensure_all_finite=True, input_name="X", estimator=estimator)
        _check_finite(X, "X", MAX_ABS_X)
    _check_magnitude(max(hi, -lo), "X", MAX_ABS_X)


def check_y(y, n, power):
    """Validate the response: finite, ``y >= 0`` (``y > 0`` for power 2).

    Parameters
    ----------
    y : array-like of shape (n,)
    n : int
        Rows of X.
    power : float

    Returns
    -------
    ndarray of shape (n,)

    Raises
    ------
    TypeError, ValueError
        Naming y.
    """
    if y is None:
        raise ValueError("requires y to be passed, but the target y is None")
    refuse_datetime(y, "y")
    y = named("y", check_array, y, ensure_2d=False, dtype=np.float64,
              ensure_all_finite=False, input_name="y")
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-dimensional, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} values but X has {n} rows")
    _check_finite(y, "y", MAX_ABS_Y)
    if np.any(y < 0):
        raise ValueError(f"y must be non-negative; found {np.sum(y < 0)} negative value(s), "
                         f"e.g. {y[y < 0][0]:g}")
    if power >= 2 and np.any(y <= 0):
        raise ValueError(f"y must be positive for power={power} (the Gamma limit); "
                         f"found {np.sum(y <= 0)} zero value(s)")
    return np.ascontiguousarray(y)


def _per_row(value, name, n, limit):
    """A scalar (broadcast) or one finite value per row, as a contiguous float64 array."""
    refuse_datetime(value, name)
    if isinstance(value, numbers.Number):
        arr = np.full(n, check_scalar(value, name, float))
    else:
        arr = named(name, check_array, value, ensure_2d=False, dtype=np.float64,
                    ensure_all_finite=False, input_name=name)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} values but X has {n} rows")
    _check_finite(arr, name, limit)
    return np.ascontiguousarray(arr)


def check_weights(sample_weight, n):
    """Observation weights for ``n`` rows: finite, non-negative, with a positive sum.

    ``sample_weight`` may be None (ones), one number for every row, or one
    value per row.  Returns a contiguous float64 array; bad values raise
    TypeError or ValueError naming sample_weight.
    """
    if sample_weight is None:
        return np.ones(n)
    w = _per_row(sample_weight, "sample_weight", n, 1e300)
    if np.any(w < 0):
        raise ValueError(f"sample_weight must be non-negative; found {np.sum(w < 0)} negative "
                         f"value(s), e.g. {w[w < 0][0]:g}")
    if not np.sum(w) > 0:
        raise ValueError("sample_weight sums to zero; at least one row needs a positive weight")
    return w


def check_offset(offset, n):
    """Offset on the linear predictor (e.g. log exposure), ``n`` finite values.

    ``offset`` may be None (zeros), one number for every row, or one value
    per row with ``|offset| <= 700``.  Returns a contiguous float64 array; bad
    values raise TypeError or ValueError naming offset.
    """
    if offset is None:
        return np.zeros(n)
    return _per_row(offset, "offset", n, MAX_ABS_OFFSET)


def check_response_signal(y, w):
    """An all-zero weighted response has no finite maximum-likelihood intercept.

    Parameters
    ----------
    y, w : ndarray of shape (n,)

    Raises
    ------
    ValueError
        When no row with a positive weight has ``y > 0``.
    """
    if not np.any((y > 0) & (w > 0)):
        raise ValueError("y is zero in every row with a positive weight; the Tweedie "
                         "intercept would tend to -infinity, so the model cannot be fitted")


def check_data(X, y, sample_weight, offset, power: float, estimator=None, reset: bool = True,
               min_samples: int = 2, n_threads: int = 1):
    """Validate the data of a fit: ``(X, feature_names, y, w, offset)``.

    Parameters
    ----------
    X, y, sample_weight, offset
        As given to ``fit``.
    power : float
        The checked Tweedie power (``y > 0`` is required at 2).
    estimator : estimator, optional
        Receives ``n_features_in_``/``feature_names_in_`` when ``reset``.
    reset : bool
        Set the estimator's input attributes (fit) or check them (predict).
    min_samples : int
        Fewest rows accepted.
    n_threads : int
        Threads for the check of a dense X's values.

    Returns
    -------
    tuple
        ``(X, feature_names, y, w, offset)``, each checked and converted.
    """
    Xc, names = check_X(X, estimator, reset=reset, min_samples=min_samples, n_threads=n_threads)
    n = Xc.shape[0]
    yc = check_y(y, n, power)
    w = check_weights(sample_weight, n)
    check_response_signal(yc, w)
    return Xc, names, yc, w, check_offset(offset, n)
