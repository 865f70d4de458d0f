"""Input validation.  The compiled kernel trusts its inputs; everything is checked here."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

# Beyond this magnitude the Hessian products X' diag(h) X overflow float64.
MAX_ABS_X = 1e100
MAX_ABS_Y = 1e100
# exp(offset) must stay finite.
MAX_ABS_OFFSET = 700.0


def check_scalar(value, name, kind, *, low=None, high=None, low_open=False, high_open=False,
                 allow_none=False):
    """Check a scalar hyper-parameter and return it as ``kind`` (int or float)."""
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


def _to_float_array(a, name, ndim):
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric; could not convert it to float64 ({exc})") from None
    if arr.ndim != ndim:
        if ndim == 1 and arr.ndim == 2 and 1 in arr.shape:
            arr = arr.ravel()
        else:
            raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    return arr


def _check_finite(arr, name, limit):
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)]
        raise ValueError(f"{name} contains NaN or infinite values (e.g. {bad.flat[0]!r})")
    if arr.size and np.max(np.abs(arr)) > limit:
        raise ValueError(
            f"{name} has values of magnitude {np.max(np.abs(arr)):.3g}, above {limit:.0e}; "
            f"rescale it"
        )


def check_X(X):
    """Validate X and return ``(X, feature_names)``.

    Dense input becomes a Fortran-ordered float64 array (copied only when it is
    not one already); sparse input becomes CSC float64 with int32 indices.
    """
    feature_names = None
    if hasattr(X, "columns") and hasattr(X, "dtypes"):
        feature_names = np.asarray([str(c) for c in X.columns], dtype=object)
        non_numeric = [str(c) for c, t in zip(X.columns, X.dtypes)
                       if not (np.issubdtype(np.dtype(t), np.number) or np.dtype(t) == bool)]
        if non_numeric:
            raise TypeError(f"X: column(s) {non_numeric[:5]} are not numeric; "
                            f"encode rating factors first (hdtweedie.FactorEncoder)")
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got shape {X.shape}")
        Xc = sp.csc_matrix(X, dtype=np.float64)
        Xc.sum_duplicates()
        Xc.sort_indices()
        data = Xc.data
        _check_finite(data, "X", MAX_ABS_X)
        Xc.indices = Xc.indices.astype(np.int32, copy=False)
        Xc.indptr = Xc.indptr.astype(np.int32, copy=False)
        out = Xc
    else:
        if isinstance(X, (str, bytes)) or X is None:
            raise TypeError(f"X must be an array-like of numbers, got {type(X).__name__}")
        try:
            out = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"X could not be read as a 2-D array ({exc})") from None
        if out.dtype == object or out.dtype.kind in "USV":
            try:
                out = out.astype(np.float64)
            except (TypeError, ValueError):
                raise TypeError("X must be numeric; it holds non-numeric values") from None
        if out.dtype.kind == "c":
            raise TypeError("X must be real-valued, got complex numbers")
        if out.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got shape {out.shape}")
        out = np.asfortranarray(out, dtype=np.float64)
        _check_finite(out, "X", MAX_ABS_X)
    n, p = out.shape
    if n < 1:
        raise ValueError(f"X has no rows (shape {out.shape}); at least 2 are needed")
    if p < 1:
        raise ValueError(f"X has no columns (shape {out.shape}); at least 1 is needed")
    if n < 2:
        raise ValueError(f"X has {n} row; at least 2 are needed")
    return out, feature_names


def check_y(y, n, power):
    """Validate the response: finite, ``y >= 0`` (``y > 0`` for power 2)."""
    if y is None:
        raise ValueError("y is required")
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    y = _to_float_array(y, "y", 1)
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} values but X has {n} rows")
    _check_finite(y, "y", MAX_ABS_Y)
    if np.any(y < 0):
        raise ValueError(f"y must be non-negative; found {np.sum(y < 0)} negative value(s), "
                         f"e.g. {y[y < 0][0]!r}")
    if power >= 2 and np.any(y <= 0):
        raise ValueError(f"y must be positive for power={power} (the Gamma limit); "
                         f"found {np.sum(y <= 0)} zero value(s)")
    return np.ascontiguousarray(y)


def check_weights(sample_weight, n):
    """Observation weights: finite, non-negative, positive sum.  ``None`` means ones."""
    if sample_weight is None:
        return np.ones(n)
    if hasattr(sample_weight, "to_numpy"):
        sample_weight = sample_weight.to_numpy()
    if np.ndim(sample_weight) == 0:
        w = np.full(n, check_scalar(sample_weight, "sample_weight", float))
    else:
        w = _to_float_array(sample_weight, "sample_weight", 1)
    if w.shape[0] != n:
        raise ValueError(f"sample_weight has {w.shape[0]} values but X has {n} rows")
    _check_finite(w, "sample_weight", 1e300)
    if np.any(w < 0):
        raise ValueError(f"sample_weight must be non-negative; found {np.sum(w < 0)} negative "
                         f"value(s), e.g. {w[w < 0][0]!r}")
    if not np.sum(w) > 0:
        raise ValueError("sample_weight sums to zero; at least one row needs a positive weight")
    return np.ascontiguousarray(w)


def check_offset(offset, n):
    """Offset on the linear predictor (e.g. log exposure).  ``None`` means zeros."""
    if offset is None:
        return np.zeros(n)
    if hasattr(offset, "to_numpy"):
        offset = offset.to_numpy()
    if np.ndim(offset) == 0:
        o = np.full(n, check_scalar(offset, "offset", float))
    else:
        o = _to_float_array(offset, "offset", 1)
    if o.shape[0] != n:
        raise ValueError(f"offset has {o.shape[0]} values but X has {n} rows")
    _check_finite(o, "offset", MAX_ABS_OFFSET)
    return np.ascontiguousarray(o)


def check_response_signal(y, w):
    """An all-zero weighted response has no finite maximum-likelihood intercept."""
    if not np.any((y > 0) & (w > 0)):
        raise ValueError("y is zero in every row with a positive weight; the Tweedie "
                         "intercept would tend to -infinity, so the model cannot be fitted")
