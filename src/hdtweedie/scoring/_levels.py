"""Factor levels as canonical text, and raw columns as arrays: shared by the encoder and the scorer."""

from __future__ import annotations

import math

import numpy as np

from ._text import short

__all__ = ["as_array", "as_numeric", "is_missing", "level_codes", "level_key", "sort_levels"]


def is_missing(value: object) -> bool:
    """True for ``None``, NaN and the pandas missing markers (``pd.NA``, ``pd.NaT``).

    Parameters
    ----------
    value : object

    Returns
    -------
    bool
    """
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def level_key(value: object) -> str | None:
    """Canonical text of a factor level, or ``None`` for a missing value.

    Strings are kept exactly as they are (``"01"`` and ``"1"`` are different
    levels); integers and integral floats become their integer text (``3``,
    ``3.0`` and ``np.int64(3)`` are all ``"3"``, the same level as the string
    ``"3"``), other floats their shortest round-trip text, booleans
    ``"True"``/``"False"``.  The encoder and the scorer both match levels
    through this function.

    Parameters
    ----------
    value : object
        A raw value of a rating factor.

    Returns
    -------
    str or None

    Raises
    ------
    TypeError
        For containers (lists, dicts, arrays), which are not levels.
    """
    if isinstance(value, str):
        return str(value)
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (list, tuple, dict, set, np.ndarray)):
        raise TypeError(f"a factor level must be a scalar, got {type(value).__name__} {short(value)}")
    return str(value)


def _order(key: str) -> tuple:
    try:
        return (float(key), key)
    except ValueError:
        return (math.inf, key)


def sort_levels(keys) -> list:
    """Natural order of levels: numerically when every level is a number, else as text.

    Ties in value (``"01"`` and ``"1"``) are ordered as text, so the order
    never depends on the order the levels were seen in.

    Parameters
    ----------
    keys : iterable of str
        Canonical level texts.

    Returns
    -------
    list of str
    """
    keys = list(keys)
    if all(math.isfinite(_order(k)[0]) for k in keys):
        return sorted(keys, key=_order)
    return sorted(keys)


def as_array(values) -> np.ndarray:
    """1-D numpy view of a column: ndarray, pandas Series (without importing pandas) or list.

    Parameters
    ----------
    values : array-like

    Returns
    -------
    numpy.ndarray
    """
    if isinstance(values, np.ndarray):
        return values.reshape(-1)
    if hasattr(values, "to_numpy"):
        return np.asarray(values.to_numpy()).reshape(-1)
    return np.asarray(values, dtype=object).reshape(-1)


def level_codes(values, index: dict, name: str) -> np.ndarray:
    """Positions of raw values in ``index`` (``-1`` unseen, ``-2`` missing), vectorised.

    Parameters
    ----------
    values : array-like or pandas Series
        Raw values of one factor.
    index : dict
        Canonical level text to position.
    name : str
        Name of the factor, for messages.

    Returns
    -------
    numpy.ndarray of intp

    Raises
    ------
    TypeError
        For values that cannot be levels.
    """

    def code(v):
        try:
            key = level_key(v)
        except TypeError as exc:
            raise TypeError(f"input {name!r}: {exc}") from None
        return -2 if key is None else index.get(key, -1)

    if not isinstance(values, np.ndarray) and hasattr(values, "factorize"):
        # pandas columns: hash-based factorisation in C, then one lookup per distinct value
        found, uniques = values.factorize()
        table = np.array([code(u) for u in list(uniques)] + [-2], dtype=np.intp)
        return table[np.asarray(found, dtype=np.intp)]  # NA gets -1, i.e. the last entry: missing
    arr = as_array(values)
    if arr.dtype.kind in "biufUS":
        uniq, inverse = np.unique(arr, return_inverse=True)
        table = np.array([code(u) for u in uniq.tolist()], dtype=np.intp)
        return table[inverse.reshape(-1)]
    flat = arr.tolist()
    try:
        table = {u: code(u) for u in set(flat)}
    except TypeError as exc:
        if "input" in str(exc):
            raise
        raise TypeError(f"input {name!r} holds unhashable values such as {short(flat[0])}") from None
    return np.fromiter(map(table.__getitem__, flat), dtype=np.intp, count=len(flat))


def as_numeric(values, name: str) -> np.ndarray:
    """A column as float64; missing markers become NaN.

    Parameters
    ----------
    values : array-like
    name : str
        Name of the input, for messages.

    Returns
    -------
    numpy.ndarray of float64

    Raises
    ------
    TypeError
        For values that are not numbers.
    """
    arr = as_array(values)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        out = np.empty(arr.shape[0])
        for i, v in enumerate(arr.tolist()):
            if is_missing(v):
                out[i] = np.nan
                continue
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"input {name!r} must be numeric, got {short(v)} at row {i}") from None
        return out
