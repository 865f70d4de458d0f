"""One bridge from polars DataFrames and pyarrow Tables to the pandas the package reads.

The kind of a frame is told from its type's module
(:func:`hdtweedie.scoring._inputs.frame_kind`), so neither polars nor pyarrow
is imported unless the object is one of theirs.  Column names and categorical
dtypes are kept: a polars ``Enum`` becomes an ordered pandas ``category`` with
the Enum's order, a polars ``Categorical`` an unordered one with its levels in
polars' (lexical) order, and an Arrow dictionary column a ``category`` with the
dictionary's order.  A null becomes NaN (or None in a text column), so it meets
the same missing-value checks as in pandas.
"""

from __future__ import annotations

from .scoring._inputs import frame_columns, frame_kind, is_frame

__all__ = ["frame_columns", "frame_kind", "is_frame", "temporal_dtype", "to_pandas"]


def temporal_dtype(value: object) -> str | None:
    """The dtype of a polars Series or an Arrow array of dates, times or durations, else None.

    numpy reads such values as numbers (days or microseconds), so they are
    named here for :func:`hdtweedie._checks.refuse_datetime` to refuse.

    Parameters
    ----------
    value : object

    Returns
    -------
    str or None
        The dtype's name when ``value`` is a temporal polars Series, Arrow
        Array or ChunkedArray.
    """
    module, kind = type(value).__module__ or "", type(value).__name__
    if module.startswith("polars") and kind == "Series":
        return str(value.dtype) if value.dtype.is_temporal() else None
    if module.startswith("pyarrow") and hasattr(value, "type") and hasattr(value, "null_count"):
        import pyarrow.types as pat

        return str(value.type) if pat.is_temporal(value.type) else None
    return None


def _sort_polars_categoricals(frame, out):
    """Levels of polars ``Categorical`` columns in the order polars sorts them (by their text)."""
    for col, dtype in frame.schema.items():
        if type(dtype).__name__ == "Categorical":  # an Enum keeps its own order
            s = out[str(col)]
            if hasattr(s, "cat"):
                out[str(col)] = s.cat.reorder_categories(sorted(s.cat.categories))
    return out


def to_pandas(obj: object, name: str = "X"):
    """A polars DataFrame or Arrow table as a new pandas DataFrame; anything else unchanged.

    Parameters
    ----------
    obj : object
        The data.  It is never modified.
    name : str
        The argument's name, for messages.

    Returns
    -------
    object
        A pandas DataFrame (same column names, categoricals as ``category``,
        nulls as NaN or None) for polars and Arrow input, else ``obj`` itself.

    Raises
    ------
    TypeError
        For a polars LazyFrame (it must be collected first).
    ValueError
        For an Arrow table with two columns of one name.
    ImportError
        When pandas (or pyarrow, which polars needs to convert) is missing.
    """
    if not is_frame(obj, name):
        return obj
    kind = frame_kind(obj)
    try:
        out = obj.to_pandas()
    except ImportError as exc:
        raise ImportError(f"{name}: reading a {kind} frame needs pandas and pyarrow ({exc})") from None
    return _sort_polars_categoricals(obj, out) if kind == "polars" else out
