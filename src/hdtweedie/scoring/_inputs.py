"""Records, columns and design matrices in the shapes the scorer accepts.

pandas, polars and pyarrow objects are read through their own methods and
told apart by their type's module, so none of them is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._levels import as_numeric, level_key

__all__ = ["frame_columns", "frame_kind", "is_frame", "read_exposure", "read_table", "record_value",
           "same_raw"]


def frame_kind(obj: object) -> str | None:
    """``"polars"``, ``"arrow"``, ``"pandas"`` or None, without importing any of them.

    Parameters
    ----------
    obj : object

    Returns
    -------
    str or None
        ``"polars"`` for a polars DataFrame, ``"polars-lazy"`` for a
        LazyFrame (not data yet: see :func:`is_frame`), ``"arrow"`` for a
        pyarrow Table or RecordBatch, ``"pandas"`` for a pandas DataFrame.
    """
    module = type(obj).__module__ or ""
    name = type(obj).__name__
    if module.startswith("polars") and name == "DataFrame":
        return "polars"
    if module.startswith("polars") and name == "LazyFrame":
        return "polars-lazy"
    if module.startswith("pyarrow") and name in ("Table", "RecordBatch"):
        return "arrow"
    if module.startswith("pandas") and name == "DataFrame":
        return "pandas"
    return None


def is_frame(obj: object, name: str = "X") -> bool:
    """Whether ``obj`` is a polars DataFrame or an Arrow table (read by :func:`frame_columns`).

    Parameters
    ----------
    obj : object
    name : str
        The argument's name, for messages.

    Returns
    -------
    bool

    Raises
    ------
    TypeError
        For a polars LazyFrame: it must be collected first.
    ValueError
        For an Arrow table with two columns of one name.
    """
    kind = frame_kind(obj)
    if kind == "polars-lazy":
        raise TypeError(f"{name}: a polars LazyFrame must be collected first (call .collect()), "
                        f"got {type(obj).__name__}")
    if kind == "arrow":
        names = [str(c) for c in obj.schema.names]
        if len(set(names)) != len(names):
            raise ValueError(f"{name}: column names must be unique, got {names}")
    return kind in ("polars", "arrow")


def _arrow_values(col) -> np.ndarray:
    """An Arrow array or chunked array as numpy: nulls as NaN (numbers) or None (anything else)."""
    if type(col.type).__name__ == "DictionaryType":
        # to_numpy on a dictionary array reads a null's code as a real level: decode first
        col = col.cast(col.type.value_type)
    # a ChunkedArray always copies; an Array only when asked (older pyarrow: no such keyword on the former)
    values = col.to_numpy() if hasattr(col, "chunks") else col.to_numpy(zero_copy_only=False)
    return np.asarray(values).reshape(-1)


def frame_columns(data: object, name: str = "X") -> tuple[dict, int]:
    """The columns of a polars DataFrame or an Arrow table as numpy arrays, and the row count.

    Categorical (polars ``Categorical``/``Enum``) and dictionary columns give
    their values; a null is NaN in a number column and None in any other.

    Parameters
    ----------
    data : polars.DataFrame, pyarrow.Table or pyarrow.RecordBatch
    name : str
        The argument's name, for messages.

    Returns
    -------
    tuple
        ``({column: 1-D array}, n_rows)``.

    Raises
    ------
    TypeError, ValueError
        As :func:`is_frame`, or for data that is not such a frame.
    """
    if not is_frame(data, name):
        raise TypeError(f"{name} must be a polars DataFrame or an Arrow table, got {type(data).__name__}")
    if frame_kind(data) == "polars":
        names = [str(c) for c in data.columns]
        cols = {c: np.asarray(data.get_column(c).to_numpy()).reshape(-1) for c in names}
        return cols, data.height
    names = [str(c) for c in data.schema.names]
    return {c: _arrow_values(data.column(i)) for i, c in enumerate(names)}, data.num_rows


def _is_column(v: object) -> bool:
    return isinstance(v, (list, tuple, np.ndarray)) or (hasattr(v, "__array__") and hasattr(v, "__len__")
                                                          and not isinstance(v, str))


def _column(v: object) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v.reshape(-1)
    if isinstance(v, (list, tuple)):
        return np.array(v, dtype=object)
    if _is_column(v):
        return np.asarray(v).reshape(-1)
    return np.array([v], dtype=object)


def read_table(data: object, feature_names: tuple) -> tuple:
    """Return ``("columns", {name: 1-D array}, n)`` or ``("design", 2-D float array, n)``.

    Parameters
    ----------
    data : dict, list of dict, DataFrame, Series, structured array or array-like
        Records, columns, or a design matrix with the model's feature columns.
        A DataFrame may be pandas, polars or an Arrow table.
    feature_names : tuple of str
        The model's design-matrix columns, for the shape check.

    Returns
    -------
    tuple

    Raises
    ------
    TypeError, ValueError
        For data that is none of these, or a design matrix of the wrong width.
    """
    if isinstance(data, Mapping):
        values = list(data.values())
        if any(_is_column(v) for v in values):
            cols = {str(k): _column(v) for k, v in data.items()}
            lengths = {c.shape[0] for c in cols.values()}
            if len(lengths) != 1:
                raise ValueError(f"X: columns have different lengths {sorted(lengths)}")
            return "columns", cols, lengths.pop()
        return "columns", {str(k): np.array([v], dtype=object) for k, v in data.items()}, 1
    if is_frame(data):
        cols, n = frame_columns(data)
        return "columns", cols, n
    if hasattr(data, "columns") and hasattr(data, "iloc"):  # DataFrame
        return "columns", {str(c): data[c] for c in data.columns}, len(data)
    if hasattr(data, "to_dict") and hasattr(data, "iloc"):  # a Series is one record
        return read_table(dict(data.to_dict()), feature_names)
    if isinstance(data, np.ndarray) and data.dtype.names:
        return "columns", {n: data[n].reshape(-1) for n in data.dtype.names}, data.reshape(-1).shape[0]
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, Mapping) for r in data):
        names = []
        for r in data:
            names.extend(k for k in r if k not in names)
        cols = {str(k): np.array([r.get(k) for r in data], dtype=object) for k in names}
        return "columns", cols, len(data)
    if hasattr(data, "toarray"):  # sparse design matrix
        data = data.toarray()
    try:
        X = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "X must be records (a dict, a list of dicts, a DataFrame or a dict of columns) "
            f"or a numeric design matrix; got {type(data).__name__} ({exc})"
        ) from None
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        more = ", ..." if len(feature_names) > 5 else ""
        raise ValueError(
            f"X: a design matrix must have {len(feature_names)} columns "
            f"({', '.join(feature_names[:5])}{more}), got shape {X.shape}"
        )
    return "design", X, X.shape[0]


def read_exposure(exposure: object, columns: dict | None, n: int) -> np.ndarray:
    """Exposure per row as float64 (default 1), from numbers or a record field name.

    Parameters
    ----------
    exposure : float, array-like, str or None
    columns : dict or None
        The record columns, for a field name.
    n : int
        Number of rows.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    TypeError
        For booleans (``exposure=True`` is not a number of years).
    ValueError
        For an unknown field or the wrong number of values.
    """
    if exposure is None:
        return np.ones(n)
    if isinstance(exposure, (bool, np.bool_)):
        raise TypeError(f"exposure must be a number, an array of numbers or a field name, got {exposure!r}")
    if isinstance(exposure, str):
        if columns is None or exposure not in columns:
            raise ValueError(f"exposure: no column {exposure!r} in the records")
        exposure = columns[exposure]
    values = exposure if hasattr(exposure, "__len__") else [exposure]
    arr = np.asarray(values) if not isinstance(values, (list, tuple)) else np.array(values, dtype=object)
    if arr.dtype.kind == "b" or (arr.dtype.kind == "O" and any(isinstance(v, (bool, np.bool_))
                                                              for v in arr.reshape(-1).tolist())):
        raise TypeError("exposure must be numbers, got booleans")
    e = as_numeric(values, "exposure")
    if e.shape[0] == 1 and n != 1:
        e = np.full(n, e[0])
    if e.shape[0] != n:
        raise ValueError(f"exposure: expected {n} values (one per row), got {e.shape[0]}")
    return e


def record_value(record: object, name: str) -> object:
    """The raw value of field ``name`` in one record, or ``None``.

    Parameters
    ----------
    record : dict, Series, one-row DataFrame (pandas, polars or Arrow) or design row
    name : str

    Returns
    -------
    object
    """
    if is_frame(record, "record"):
        value = frame_columns(record, "record")[0].get(name)
        if value is None or value.shape[0] == 0:
            return None
        value = value[0]
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(record, Mapping) or hasattr(record, "to_dict"):
        try:
            value = record[name]
        except (KeyError, IndexError, TypeError):
            return None
        if hasattr(value, "iloc"):  # one-row DataFrame column
            value = value.iloc[0]
        return value.item() if isinstance(value, np.generic) else value
    return None


def same_raw(a: object, b: object) -> bool:
    """Whether two raw values are the same level (or equal, when they are not levels).

    Parameters
    ----------
    a, b : object

    Returns
    -------
    bool
    """
    try:
        return level_key(a) == level_key(b)
    except TypeError:
        return a == b
