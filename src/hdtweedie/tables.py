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

from ._atomic import atomic_write, opened

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
    _pandas()  # a missing pandas is told before the file's problems
    p = Path(path)
    kind, compression = table_format(p, "read")
    text = set(text_columns)
    if kind == "parquet":
        df = _read_parquet(p)
    else:
        # Opened with signals held: pandas closes a half-opened file on an Exception only.
        with opened(lambda: open_csv(path, kind, compression, iterator=True)) as parser:
            try:
                df = parser.read()
            except Exception as exc:  # pandas, codecs and compressors raise many kinds
                raise csv_error(p, kind, exc) from None
    if len(df) == 0:
        raise ValueError(f"{path} has no data rows")
    for col in df.columns:
        if col in text:
            if kind == "parquet":
                df[col] = as_text(df[col])
        elif kind != "parquet":
            df[col] = _maybe_numeric(df[col])
    return df


def as_text(series):
    """A Parquet column named as text (a rating factor) as text, missing values kept missing.

    Parameters
    ----------
    series : pandas.Series

    Returns
    -------
    pandas.Series
        ``series`` itself when it already holds strings.
    """
    pd = _pandas()
    if pd.api.types.is_string_dtype(series):
        return series
    return series.map(lambda v: None if pd.isna(v) else str(v)).astype(object)


def table_format(path: Path, mode: str) -> tuple[str, str | None]:
    """``(kind, compression)`` of a table about to be read or written.

    Parameters
    ----------
    path : Path
    mode : {"read", "write"}
        To be read, the file must be a regular file; to be written, its
        folder is created.

    Returns
    -------
    tuple
        As :func:`file_kind`, and the compression of a CSV/TSV file (or None).

    Raises
    ------
    ValueError
        A file to read is missing or not a regular file; the name does not say the format.
    ImportError
        A Parquet file without pyarrow.
    OSError
        The folder of a file to write cannot be created.
    """
    if mode == "read":
        _check_readable(path)
    kind, compression = _suffixes(path)
    if kind is None:
        raise ValueError(f"cannot tell the format of {path} from its name: {_FORMATS_HINT}")
    if kind == "parquet":
        need_pyarrow(path, "reading" if mode == "read" else "writing")
    if mode == "write":
        make_parent(path)
    return kind, compression


def csv_options(kind: str, compression: str | None) -> dict:
    """Keyword arguments of :func:`pandas.read_csv` for a CSV or TSV file: every cell read as text.

    Parameters
    ----------
    kind : {"csv", "tsv"}
    compression : str or None

    Returns
    -------
    dict
    """
    return {"sep": _SEPARATORS[kind], "compression": compression, "dtype": str,
            "keep_default_na": False, "na_values": [""], "encoding": "utf-8"}


def open_csv(path: str | os.PathLike, kind: str, compression: str | None, **options):
    """A pandas reader of a CSV or TSV file (every cell as text); pandas' errors named as the file's.

    Parameters
    ----------
    path : str or path-like
    kind : {"csv", "tsv"}
    compression : str or None
    **options
        ``chunksize`` or ``iterator``, passed to :func:`pandas.read_csv`.

    Returns
    -------
    pandas.io.parsers.TextFileReader
        Open: the caller closes it (best with :func:`hdtweedie._atomic.opened`).

    Raises
    ------
    ValueError
        The file is empty or its first rows cannot be parsed; the message names the file.
    """
    pd = _pandas()
    try:
        return pd.read_csv(path, **options, **csv_options(kind, compression))
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty") from None
    except Exception as exc:  # pandas, codecs and compressors raise many kinds
        raise csv_error(Path(path), kind, exc) from None


def csv_error(path: Path, kind: str, exc: BaseException) -> ValueError:
    """The error for a CSV or TSV file that cannot be parsed, naming the file.

    Parameters
    ----------
    path : Path
    kind : {"csv", "tsv"}
    exc : BaseException
        What the parser raised.

    Returns
    -------
    ValueError
    """
    return ValueError(f"cannot read {path} as {kind.upper()}: {_one_line(exc)}")


def need_pyarrow(path: str | os.PathLike, verb: str) -> None:
    """Refuse a Parquet file when pyarrow is missing.

    Parameters
    ----------
    path : str or path-like
    verb : {"reading", "writing"}

    Raises
    ------
    ImportError
        Naming the file and the extra to install.
    """
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise ImportError(f"{verb} {path} needs pyarrow: pip install hdtweedie[parquet]")


def _read_parquet(p: Path):
    pd = _pandas()
    try:
        return pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises many kinds of errors
        raise ValueError(f"cannot read {p} as Parquet: {_one_line(exc)}") from None


def numeric_form(series):
    """The text column as numbers, or None if a value is not a plain number.

    Parameters
    ----------
    series : pandas.Series
        Text read from a CSV file; missing values allowed.

    Returns
    -------
    pandas.Series or None
        Numbers (NaN where missing) when every present value is a number
        written without a leading zero; None otherwise.
    """
    pd = _pandas()
    values = series.dropna()
    converted = pd.to_numeric(series, errors="coerce")
    if converted.notna().sum() != len(values) or values.str.match(_LEADING_ZERO).any():
        return None
    return converted


def _maybe_numeric(series):
    """The column as numbers if every value is a plain number (and one is present), else unchanged text."""
    converted = numeric_form(series) if series.notna().any() else None
    return series if converted is None else converted


def require_columns(df, columns: Iterable[str], what: str, source: str) -> None:
    """Refuse a table that lacks some of ``columns``, listing the columns it has.

    Parameters
    ----------
    df : pandas.DataFrame or list of str
        The table, or its column names.
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
    names = list(getattr(df, "columns", df))
    missing = [c for c in columns if c not in names]
    if missing:
        shown = ", ".join(map(str, names[:20])) + (", ..." if len(names) > 20 else "")
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
    kind, compression = table_format(p, "write")
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

