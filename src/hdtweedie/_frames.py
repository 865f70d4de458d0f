"""One bridge from polars DataFrames and pyarrow Tables to the pandas and numpy the package reads.

The kind of a frame is told from its type's module, so neither polars nor
pyarrow is imported unless the object is one of theirs.  Column names and
categorical dtypes are kept: a polars ``Categorical``/``Enum`` or an Arrow
dictionary column becomes a pandas ``category``.
"""

from __future__ import annotations

__all__ = ["frame_kind", "is_foreign_frame", "to_pandas"]


def frame_kind(obj: object) -> str | None:
    """``"polars"``, ``"arrow"``, ``"pandas"`` or None, without importing any of them.

    Parameters
    ----------
    obj : object

    Returns
    -------
    str or None
        ``"polars"`` for a polars DataFrame (a LazyFrame is not one: collect
        it first), ``"arrow"`` for a pyarrow Table or RecordBatch.
    """
    module = type(obj).__module__ or ""
    name = type(obj).__name__
    if module.startswith("polars") and name == "DataFrame":
        return "polars"
    if module.startswith("pyarrow") and name in ("Table", "RecordBatch"):
        return "arrow"
    if module.startswith("pandas") and name == "DataFrame":
        return "pandas"
    return None


def is_foreign_frame(obj: object) -> bool:
    """Whether ``obj`` is a polars DataFrame or an Arrow table (not pandas).

    Parameters
    ----------
    obj : object

    Returns
    -------
    bool
    """
    return frame_kind(obj) in ("polars", "arrow")


def to_pandas(obj: object, name: str = "X"):
    """A polars DataFrame or Arrow table as a pandas DataFrame; anything else unchanged.

    Parameters
    ----------
    obj : object
        The data.
    name : str
        The argument's name, for messages.

    Returns
    -------
    object
        A pandas DataFrame (same column names, categoricals as ``category``)
        for polars and Arrow input, else ``obj`` itself.

    Raises
    ------
    TypeError
        For a polars LazyFrame (it must be collected first).
    ImportError
        When pandas (or pyarrow, which polars needs to convert) is missing.
    """
    kind = frame_kind(obj)
    module = type(obj).__module__ or ""
    if kind is None and module.startswith("polars") and type(obj).__name__ == "LazyFrame":
        raise TypeError(f"{name}: a polars LazyFrame must be collected first (call .collect())")
    if kind not in ("polars", "arrow"):
        return obj
    try:
        return obj.to_pandas()
    except ImportError as exc:
        raise ImportError(f"{name}: reading a {kind} frame needs pandas and pyarrow ({exc})") from None
