"""Write a file whole or not at all (standard library only: the scorer uses it)."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import IO, Protocol, TypeVar

_DEFERRED = (signal.SIGTERM, signal.SIGINT)


class _Closable(Protocol):
    def close(self) -> object: ...


_C = TypeVar("_C", bound=_Closable)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGTERM and SIGINT back while a file and its clean-up are being set up together.

    A signal turned into an exception between opening a file and registering its
    closing (or removal) would leave it behind; held back, it is raised again once
    the block is done.  The signals' handlers are swapped for ones that only note
    them: blocking the signals would not do, as the process's other threads (a BLAS
    pool) would still receive them and have the main thread run the handler at once.
    Only the main thread runs Python's signal handlers, so elsewhere this does nothing.

    Yields
    ------
    None
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # A handler installed outside Python (None) cannot be put back: such a signal is left alone.
    previous = [(s, h) for s in _DEFERRED if (h := signal.getsignal(s)) is not None]
    held: list[int] = []

    def hold(signum: int, frame) -> None:
        held.append(signum)

    try:
        for signum, _ in previous:
            signal.signal(signum, hold)
        yield
    finally:
        _restore(previous)
        for signum in held:  # the restored handler runs now, as it would have then
            signal.raise_signal(signum)


def _restore(handlers: list) -> None:
    """Put the handlers back, every one even if a signal interrupts the others."""
    if handlers:
        try:
            signal.signal(*handlers[0])
        finally:
            _restore(handlers[1:])


@contextlib.contextmanager
def opened(open_file: Callable[[], _C]) -> Iterator[_C]:
    """Open a file (or anything with ``close()``) and close it after the block, never leaving it open.

    ``with open(name) as fh:`` leaves a file open if a signal handler raises just
    after ``open`` returns; here the opening and the registering of the closing
    happen with SIGTERM and SIGINT held back (:func:`deferred_signals`), and so
    does the closing, which a signal could otherwise cut short.

    Parameters
    ----------
    open_file : callable
        Called without arguments; returns the open object.

    Yields
    ------
    object
        What ``open_file`` returned.
    """
    resource = None
    try:
        with deferred_signals():
            resource = open_file()
        yield resource
    finally:
        if resource is not None:
            try:
                with deferred_signals():
                    resource.close()
            finally:
                resource.close()  # a no-op, unless a signal landed before the signals were held


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", *, newline: str | None = None,
                 encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or path-like
        The destination.  It is replaced only once everything was written and
        flushed to disk; on any error (a full disk, an exception, a signal that
        ends the process) the destination is left as it was and the temporary
        file is removed (or, after SIGKILL, left under a ``.tmp`` name that no
        reader mistakes for the result).
    mode : {"w", "wb"}
        Text or binary.
    newline, encoding : str or None
        As in :func:`open`; ignored in binary mode.

    Yields
    ------
    file object
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    kwargs = {} if mode == "wb" else {"newline": newline, "encoding": encoding}
    with contextlib.ExitStack() as stack:
        with deferred_signals():  # the file, its closing and its removal are registered together
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
            stack.push(_remove_on_error(tmp))
            fh = stack.enter_context(os.fdopen(fd, mode, **kwargs))
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        os.replace(tmp, path)


def _remove_on_error(tmp: str) -> Callable[..., None]:
    """An exit callback for an ExitStack: remove ``tmp`` if the block failed."""

    def remove(exc_type, exc, tb) -> None:
        if exc_type is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    return remove
