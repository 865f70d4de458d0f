"""Read and write data tables chunk by chunk, in memory bounded by a chunk (or a Parquet row group).

:class:`TableReader` gives the chunks typed exactly as :func:`hdtweedie.tables.read_table`
types the whole file: a CSV column is numeric only if every value in the file
is a number, which a first pass over the file decides.  :class:`TableWriter`
appends chunks to a temporary file that replaces the destination only when
every chunk was written (:func:`hdtweedie._atomic.atomic_write`).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from . import tables
from ._atomic import atomic_write, deferred_signals, opened

__all__ = ["TableReader", "TableWriter"]


class TableReader:
    """The rows of a CSV (optionally compressed), TSV or Parquet file, a chunk at a time.

    Parameters
    ----------
    path : str or path-like
        The file; its format follows its name.
    text_columns : iterable of str
        Columns read as text, as in :func:`hdtweedie.tables.read_table`.
    chunk_size : int
        Rows per chunk (a CSV is read twice: once to type its columns).

    Attributes
    ----------
    rows : int
        Data rows in the file (at least one).
    columns : list of str
        Column names, as in every chunk.

    Raises
    ------
    ValueError
        As :func:`hdtweedie.tables.read_table`, also while iterating.
    """

    def __init__(self, path: str | os.PathLike, *, text_columns: Iterable[str] = (),
                 chunk_size: int = 100_000) -> None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.path = Path(path)
        self.kind, self.compression = tables.table_format(self.path, "read")
        self.text = set(text_columns)
        self.chunk_size = chunk_size
        if self.kind == "parquet":
            self._parquet = self._open_parquet()
            self.rows = self._parquet.metadata.num_rows
            self.columns = list(self._parquet.schema_arrow.names)
        else:
            self.rows, self.columns, self._numeric = self._survey()
        if self.rows == 0:
            raise ValueError(f"{self.path} has no data rows")

    def _open_parquet(self):
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises many kinds of errors
            raise ValueError(f"cannot read {self.path} as Parquet: {tables._one_line(exc)}") from None

    def _raw_chunks(self) -> Iterator:
        """The CSV's chunks with every cell as text."""
        # Opened with signals held: pandas closes a half-opened file on an Exception only.
        with opened(lambda: tables.open_csv(self.path, self.kind, self.compression,
                                            chunksize=self.chunk_size)) as reader:
            while True:
                try:
                    chunk = next(reader)
                except StopIteration:
                    return
                except Exception as exc:
                    raise tables.csv_error(self.path, self.kind, exc) from None
                yield chunk

    def _survey(self) -> tuple[int, list, dict]:
        """Rows, columns, and the dtype of each column that is numeric throughout the file."""
        rows, columns = 0, []
        state: dict[str, list] = {}  # column -> [numeric so far, a value seen, dtype]
        with contextlib.closing(self._raw_chunks()) as chunks:  # closed now, even on an error
            for chunk in chunks:
                rows += len(chunk)
                columns = list(chunk.columns)
                for col in columns:
                    entry = state.setdefault(col, [col not in self.text, False, None])
                    if not entry[0]:
                        continue
                    converted = tables.numeric_form(chunk[col])
                    if converted is None:
                        entry[0] = False
                        continue
                    entry[1] = entry[1] or bool(chunk[col].notna().any())
                    dtype = converted.dtype
                    entry[2] = dtype if entry[2] is None else np.result_type(entry[2], dtype)
        return rows, columns, {c: e[2] for c, e in state.items() if e[0] and e[1]}

    def __iter__(self) -> Iterator:
        """Yield the chunks as pandas DataFrames (index counting rows from the file's start)."""
        if self.kind != "parquet":
            pd = tables._pandas()
            with contextlib.closing(self._raw_chunks()) as chunks:
                for chunk in chunks:
                    for col, dtype in self._numeric.items():
                        chunk[col] = pd.to_numeric(chunk[col], errors="coerce").astype(dtype)
                    yield chunk
            return
        import pyarrow as pa

        start = 0
        batches = self._parquet.iter_batches(batch_size=self.chunk_size)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except Exception as exc:
                raise ValueError(f"cannot read {self.path} as Parquet: {tables._one_line(exc)}") from None
            chunk = pa.Table.from_batches([batch]).to_pandas()
            chunk.index = range(start, start + len(chunk))
            start += len(chunk)
            for col in chunk.columns:
                if col in self.text:
                    chunk[col] = tables.as_text(chunk[col])
            yield chunk


class TableWriter:
    """Append DataFrame chunks to a CSV, TSV (optionally compressed) or Parquet file, whole or not at all.

    Use as a context manager: the destination is replaced when the block
    ends without an error, and left as it was otherwise.

    Parameters
    ----------
    path : str or path-like
        Destination; the format follows its name.  Missing parent folders are created.

    Raises
    ------
    ValueError
        The format cannot be told from the name.
    ImportError
        Parquet output without pyarrow; ``.zst`` output without zstandard.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.kind, self.compression = tables.table_format(self.path, "write")
        self._stack = contextlib.ExitStack()
        self._out = None
        self._parquet = None
        self._schema = None

    def __enter__(self) -> TableWriter:
        try:
            with deferred_signals():  # the temporary file and its removal are registered together
                self._open()
        except BaseException:
            # An error while opening (or a signal held back until now): nothing is published.
            self._stack.__exit__(*sys.exc_info())
            raise
        return self

    def _open(self) -> None:
        fh = self._stack.enter_context(atomic_write(self.path, "wb"))
        if self.kind == "parquet":
            self._out = fh
            return
        stream = self._stack.enter_context(self._compressor(fh)) if self.compression else fh
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        self._stack.callback(text.detach)  # flushes; leaves the binary stream open for its owner
        self._out = text

    def _compressor(self, fh):
        if self.compression == "gzip":
            import gzip

            return gzip.GzipFile(fileobj=fh, mode="wb")
        if self.compression == "bz2":
            import bz2

            return bz2.BZ2File(fh, "wb")
        if self.compression == "xz":
            import lzma

            return lzma.LZMAFile(fh, "wb")
        if self.compression == "zip":
            import zipfile

            archive = self._stack.enter_context(zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED))
            return archive.open(self.path.name.removesuffix(".zip"), "w", force_zip64=True)
        try:
            import zstandard
        except ImportError:
            raise ImportError(f"writing {self.path} needs zstandard: pip install zstandard") from None
        return zstandard.ZstdCompressor().stream_writer(fh, closefd=False)

    def write(self, df) -> None:
        """Append the rows of ``df`` (its index is not written).

        Parameters
        ----------
        df : pandas.DataFrame
            Same columns, in the same order, as every other chunk.
        """
        if self.kind != "parquet":
            first = self._schema is None
            self._schema = list(df.columns)
            df.to_csv(self._out, index=False, header=first, sep=tables._SEPARATORS[self.kind])
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            table = pa.Table.from_pandas(df, preserve_index=False)
            # A column empty in the first chunk has no type yet: text is the only type it can take.
            fields = [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            self._schema = pa.schema(fields, metadata=table.schema.metadata)
            self._parquet = pq.ParquetWriter(self._out, self._schema)
            self._stack.callback(self._parquet.close)
        table = pa.Table.from_pandas(df, schema=self._schema, preserve_index=False)
        self._parquet.write_table(table)

    def __exit__(self, *exc) -> bool:
        return self._stack.__exit__(*exc)
