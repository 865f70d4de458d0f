"""Writers of one ledger on one machine take turns, and pass the chain head on, through a lock file.

Without it, the worker processes of one service race for the head of a
shared ledger: a group chained after a head that another process has
moved meanwhile is refused by the database and chained again after the
head read under a row lock, which costs round trips and holds the lock
across the chaining.  Taking turns on a local file lock (queued in the
kernel) and reading the head the last writer left in that file, each
group is chained after the true head at once: one round trip, no lock
held in the database.  The file is only a hint: the database still
refuses a group chained after a stale head (a writer on another machine,
a writer killed after its commit), and the caller then reads the head
under the database lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

_SIZE = 128  # more than "SEQ HASH\n" for any 64-bit seq


def turns_path(url: str) -> str:
    """The lock file of the ledger at ``url``.

    Parameters
    ----------
    url : str
        The ledger's URL without password.

    Returns
    -------
    str
        A path in the temporary folder, the same in every process given the same URL.
    """
    digest = hashlib.sha256(url.encode()).hexdigest()[:32]
    return os.path.join(tempfile.gettempdir(), f"hdtweedie-ledger-{digest}.turns")


class WriterTurns:
    """A lock file shared by the writers of one ledger on this machine, holding the head last written.

    Only a regular file owned by this user and closed to others is used (a
    file another user made could otherwise hold the writers up); when it
    cannot be used, :meth:`turn` does nothing and :meth:`head` is None.

    Parameters
    ----------
    path : str
        The file (created if absent).
    """

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._pid = -1

    def _open(self) -> int | None:
        # Opened in the process that writes: a descriptor inherited across a fork would share its lock.
        if self._pid == os.getpid():
            return self._fd
        self._pid, self._fd = os.getpid(), None
        if fcntl is None:  # pragma: no cover - not POSIX
            return None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            usable = stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077
        except OSError:
            usable = False
        if not usable:
            os.close(fd)
            return None
        self._fd = fd
        return fd

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the lock: wait (in the kernel, in order) while another writer holds it.

        Yields
        ------
        None
        """
        fd = self._open()
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            fd = None  # a lock the file system refuses: writers race, the database still decides
        try:
            yield
        finally:
            if fd is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def head(self) -> tuple | None:
        """The head ``(seq, hash)`` the last writer left, or None if unknown.

        Returns
        -------
        tuple or None
        """
        fd = self._open()
        if fd is None:
            return None
        try:
            seq, digest = os.pread(fd, _SIZE, 0).decode("ascii").split()
            return int(seq), digest
        except (OSError, ValueError):
            return None

    def set_head(self, head: tuple | None) -> None:
        """Leave the head just committed (None: unknown) for the next writer.

        Parameters
        ----------
        head : tuple or None
            ``(seq, hash)``.
        """
        fd = self._open()
        if fd is None:
            return
        text = b"" if head is None else f"{head[0]} {head[1]}\n".encode("ascii")
        with contextlib.suppress(OSError):
            os.pwrite(fd, text.ljust(_SIZE), 0)

    def close(self) -> None:
        """Close the file (it stays for the other writers)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = None, -1
