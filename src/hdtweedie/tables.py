"""Reading and writing data tables: CSV (optionally compressed), TSV and Parquet.

The format follows the file name.  Columns named as text are read as text
(``"01"`` stays ``"01"``); the other columns become numbers where every value
is a number written without a leading zero, and text otherwise.  Every read
problem is a ``ValueError`` naming the file; files are written whole or not
at all (:func:`hdtweedie._atomic.atomic_write`).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ._atomic import atomic_write

__all__ = ["file_kind", "read_table", "write_table", "numeric_values", "refuse_same_file",
           "require_columns", "make_parent"]

_CSV_SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "tsv"}
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz", ".zst": "zstd"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_SEPARATORS = {"csv": ",", "tsv": "\t"}
# A number with a leading zero ("01", "007") is a code, not a quantity.
_LEADING_ZERO = re.compile(r"^\s*[+-]?0\d")
_FORMATS_HINT = "use .csv, .csv.gz, .tsv or .parquet"


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("reading and writing tables needs pandas: pip install hdtweedie[pandas]") from None
    return pd


def _suffixes(path: str | os.PathLike) -> tuple[str | None, str | None]:
    """(kind, compression) from the file name; kind is None when unknown."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in _PARQUET_SUFFIXES:
        return "parquet", None
    compression = None
    if suffixes and suffixes[-1] in _COMPRESSION:
        compression = _COMPRESSION[suffixes.pop()]
    kind = _CSV_SUFFIXES.get(suffixes[-1]) if suffixes else None
    return kind, compression if kind else None


def file_kind(path: str | os.PathLike) -> str | None:
    """The table format a file name asks for.

    Parameters
    ----------
    path : str or path-like
        A file name such as ``data.csv``, ``data.csv.gz``, ``data.tsv`` or
        ``data.parquet``.

    Returns
    -------
    {"csv", "tsv", "parquet"} or None
        None when the name does not say.
    """
    return _suffixes(path)[0]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def _check_readable(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ValueError(f"data file not found: {path}") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{path} is a folder, not a data file")
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
        raise ValueError(f"{path} is not a regular file")


def read_table(path: str | os.PathLike, *, text_columns: Iterable[str] = ()):
    """Read a CSV (optionally compressed), TSV or Parquet file into a DataFrame.

    Parameters
    ----------
    path : str or path-like
        The file; its format follows its name (see :func:`file_kind`).
    text_columns : iterable of str
        Columns read as text (rating factors): ``"01"`` stays ``"01"`` and
        only an empty cell is missing.  Columns absent from the file are ignored.

    Returns
    -------
    pandas.DataFrame
        At least one row.  In CSV files, every other column is numeric if all
        its values are numbers without a leading zero, text otherwise.

    Raises
    ------
    ValueError
        The file is missing, not a regular file, of unknown format, empty,
        has no data rows, or cannot be parsed (corrupt compression, binary
        content, bad Parquet); the message names the file.
    ImportError
        pandas (or pyarrow for Parquet) is not installed.
    """
    pd = _pandas()
    p = Path(path)
    _check_readable(p)
    kind, compression = _suffixes(p)
    if kind is None:
        raise ValueError(f"cannot tell the format of {path} from its name: {_FORMATS_HINT}")
    text = set(text_columns)
    if kind == "parquet":
        df = _read_parquet(p)
    else:
        try:
            df = pd.read_csv(p, sep=_SEPARATORS[kind], compression=compression, dtype=str,
                             keep_default_na=False, na_values=[""], encoding="utf-8")
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path} is empty") from None
        except Exception as exc:  # pandas, codecs and compressors raise many kinds
            raise ValueError(f"cannot read {path} as {kind.upper()}: {_one_line(exc)}") from None
    if len(df) == 0:
        raise ValueError(f"{path} has no data rows")
    for col in df.columns:
        if col in text:
            if kind == "parquet" and not pd.api.types.is_string_dtype(df[col]):
                df[col] = df[col].map(lambda v: None if pd.isna(v) else str(v)).astype(object)
        elif kind != "parquet":
            df[col] = _maybe_numeric(df[col])
    return df


def _read_parquet(p: Path):
    pd = _pandas()
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise ImportError(f"reading {p} needs pyarrow: pip install hdtweedie[parquet]")
    try:
        return pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises many kinds of errors
        raise ValueError(f"cannot read {p} as Parquet: {_one_line(exc)}") from None


def _maybe_numeric(series):
    """The column as numbers if every value is a plain number, else unchanged text."""
    pd = _pandas()
    values = series.dropna()
    if len(values) == 0:
        return series
    converted = pd.to_numeric(series, errors="coerce")
    if converted.notna().sum() != len(values) or values.str.match(_LEADING_ZERO).any():
        return series
    return converted


def require_columns(df, columns: Iterable[str], what: str, source: str) -> None:
    """Refuse a table that lacks some of ``columns``, listing the columns it has.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    columns : iterable of str
        The columns needed.
    what : str
        Their role in the message ("response", "model input", ...).
    source : str
        The table's name in the message.

    Raises
    ------
    ValueError
        Naming the missing columns and the first 20 columns of the table.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        shown = ", ".join(map(str, list(df.columns)[:20])) + (", ..." if len(df.columns) > 20 else "")
        noun = "column" if len(missing) == 1 else "columns"
        raise ValueError(f"{what} {noun} {', '.join(repr(m) for m in missing)} not found in "
                         f"{source} (columns: {shown})")


def numeric_values(series) -> tuple[np.ndarray, np.ndarray]:
    """A column as float64 and the rows that are not finite numbers.

    Parameters
    ----------
    series : pandas.Series
        Numbers, or text to be read as numbers.

    Returns
    -------
    values : numpy.ndarray
        A writable float64 copy; NaN where a value is missing or not a number.
    bad : numpy.ndarray of bool
        True where the value is missing, not a number, or infinite.

    Raises
    ------
    TypeError
        The column is boolean, or no value in it is a number.
    """
    pd = _pandas()
    if pd.api.types.is_bool_dtype(series):
        raise TypeError("is boolean, not numeric")
    numbers = series if pd.api.types.is_numeric_dtype(series) else pd.to_numeric(series, errors="coerce")
    values = np.array(numbers.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    bad = ~np.isfinite(values)
    if bad.all() and series.notna().any():
        raise TypeError("is not numeric")
    return values, bad


def refuse_same_file(out: str | os.PathLike, inputs: Iterable[str | os.PathLike], option: str = "--out"):
    """Refuse an output path that is one of the inputs (also via a link or another path).

    Parameters
    ----------
    out : str or path-like
        The file about to be written.
    inputs : iterable of str or path-like
        Files read by the same command.
    option : str
        The option named in the message.

    Raises
    ------
    ValueError
        ``out`` is the same file as one of ``inputs``.
    """
    for source in inputs:
        try:
            same = os.path.samefile(out, source)
        except OSError:  # one of them does not exist: cannot be the same file
            same = os.path.abspath(out) == os.path.abspath(source)
        if same:
            raise ValueError(f"{option} {out} is the input file {source}: refusing to overwrite it")


def write_table(df, path: str | os.PathLike) -> None:
    """Write a DataFrame as CSV, TSV (optionally compressed) or Parquet, whole or not at all.

    Parameters
    ----------
    df : pandas.DataFrame
        The table; its index is not written.
    path : str or path-like
        Destination; the format follows its name.  Missing parent folders are
        created.  On any error the destination is left as it was.

    Raises
    ------
    ValueError
        The format cannot be told from the name.
    ImportError
        Parquet output without pyarrow.
    OSError
        The file cannot be written (the destination is unchanged).
    """
    p = Path(path)
    kind, compression = _suffixes(p)
    if kind is None:
        raise ValueError(f"cannot tell the format of {path} from its name: {_FORMATS_HINT}")
    if kind == "parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise ImportError(f"writing {path} needs pyarrow: pip install hdtweedie[parquet]")
    make_parent(p)
    with atomic_write(p, "wb") as fh:
        if kind == "parquet":
            df.to_parquet(fh, index=False)
        else:
            df.to_csv(fh, index=False, sep=_SEPARATORS[kind], compression=compression,
                      encoding="utf-8")


def make_parent(path: str | os.PathLike) -> None:
    """Create the folder that will hold ``path``.

    Parameters
    ----------
    path : str or path-like
        A file about to be written.

    Raises
    ------
    OSError
        The folder cannot be created (the message names it).
    """
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create folder {parent}: {exc.strerror or exc}") from None
