"""Write a file whole or not at all (standard library only: the scorer uses it)."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

_DEFERRED = {signal.SIGTERM, signal.SIGINT}


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGTERM and SIGINT back while a file and its clean-up are being set up together.

    A signal turned into an exception between opening a temporary file and registering
    its removal would leave both behind; held back, it arrives once the block is done.
    Only the main thread receives Python's signals, so elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


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
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        kwargs = {} if mode == "wb" else {"newline": newline, "encoding": encoding}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
