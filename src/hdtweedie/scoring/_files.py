"""Reading model files with limits, and writing files whole or not at all."""

from __future__ import annotations

import csv
import os
import re
import stat
from collections.abc import Iterable
from typing import BinaryIO

from .._atomic import atomic_write, opened
from ._errors import ModelFileError

__all__ = ["DEFAULT_MAX_BYTES", "read_bounded", "spreadsheet_safe", "write_csv", "write_shared"]

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
_SHARED_MODE = 0o644  # model files and factor tables are meant to be read by others


def read_bounded(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a regular file of at most ``max_bytes`` bytes.

    The file is opened without blocking (a FIFO cannot hang the caller) and
    refused unless it is a regular file: devices such as ``/dev/zero`` never
    reach ``read``.  The size is checked before reading and again while
    reading, so a growing file cannot exceed the limit either.

    Parameters
    ----------
    path : str or os.PathLike
    max_bytes : int
        Largest size accepted.

    Returns
    -------
    bytes

    Raises
    ------
    ModelFileError
        Unreadable, not a regular file, or too large.
    TypeError, ValueError
        For a ``max_bytes`` that is not a positive integer.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"max_bytes must be an integer, got {type(max_bytes).__name__} {max_bytes!r}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
    name = os.fspath(path)
    # Opened with signals held: one landing between os.open and fdopen would leak the descriptor.
    with opened(lambda: _open_regular(name, max_bytes)) as fh:
        try:
            raw = fh.read(max_bytes + 1)
        except OSError as exc:
            raise ModelFileError(f"cannot read model file {name!r}: {exc.strerror or exc}") from exc
    if len(raw) > max_bytes:
        raise ModelFileError(_too_large(name, "more", max_bytes))
    return raw


def _open_regular(name: str, max_bytes: int) -> BinaryIO:
    """The model file opened unbuffered, once it is known to be a regular file within the limit."""
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {name!r}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # checked before fdopen, which refuses a directory itself
            raise ModelFileError(f"model file {name!r} is not a regular file "
                                 f"({_kind(info.st_mode)}); only regular files are read")
        if info.st_size > max_bytes:
            raise ModelFileError(_too_large(name, str(info.st_size), max_bytes))
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _too_large(name: str, size: str, max_bytes: int) -> str:
    return (f"model file {name!r} has {size} bytes, over the limit of {max_bytes} "
            "(pass a larger max_bytes to load_model if the file is trusted)")


def _kind(mode: int) -> str:
    for test, label in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return label
    return "not a regular file"


def write_shared(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all, readable by others (mode 0644).

    Parameters
    ----------
    path : str or os.PathLike
    text : str

    Raises
    ------
    OSError
        When the directory cannot be written; ``path`` is then left as it was.
    """
    with atomic_write(path, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), _SHARED_MODE)
        fh.write(text)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_safe(text: str) -> str:
    """Text for a CSV cell that a spreadsheet shows and never evaluates.

    A cell starting with ``= + - @``, a tab or a carriage return is read as a
    formula by spreadsheets; such text gets a leading single quote.  Plain
    numbers (``-0.5``, ``+3``, ``1e-3``) are left as they are.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    if text.startswith(_FORMULA_START) and _NUMBER.fullmatch(text) is None:
        return "'" + text
    return text


def write_csv(path: str | os.PathLike, header: list, rows: Iterable[list]) -> None:
    """Write a CSV file whole or not at all; text cells pass through :func:`spreadsheet_safe`.

    Parameters
    ----------
    path : str or os.PathLike
    header : list of str
    rows : iterable of list
        Cells: ``str`` (made spreadsheet-safe) or already formatted numbers.

    Raises
    ------
    OSError
        When the file cannot be written; ``path`` is then left as it was.
    """
    with atomic_write(path, "w", newline="", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), _SHARED_MODE)
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([spreadsheet_safe(c) if isinstance(c, str) else c for c in row])
