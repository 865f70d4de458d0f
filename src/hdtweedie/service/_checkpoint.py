"""SQLite WAL checkpoints off the commit path, and the file lock that queues the ledger's writers.

SQLite's automatic checkpoint runs inside the commit that crosses its
threshold: that commit (and every caller of its group) waited for the copy
of the WAL into the database and two disk flushes, tens of milliseconds.
Here the writers never checkpoint; a thread of the ledger does, after every
:data:`CHECKPOINT_COMMITS` commits, with a PASSIVE checkpoint that never
blocks a writer (sqlite3 releases the GIL while it copies and flushes).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

from ._group import GroupWriter

#: Commits between two checkpoints (a commit adds a few pages: about SQLite's 1000-page default).
CHECKPOINT_COMMITS = 250
#: WAL frames beyond which a checkpoint holds the writers back to finish (so that the WAL restarts).
CATCH_UP_FRAMES = 8000
# Most frames left to copy while holding the writers back, and unlocked tries to get there.
_TAIL_FRAMES, _CHASES = 600, 4


class WriterLock:
    """An exclusive ``flock`` on a file beside the database, one open description per holder.

    Writers queue in the kernel, woken as the lock is released; SQLite's busy
    handler would sleep and retry (up to 100 ms a retry).

    Parameters
    ----------
    path : str
        The lock file (created if absent).
    error : callable
        ``error(exc)``: the exception raised when the file cannot be opened.
    """

    def __init__(self, path: str, error: Callable[[OSError], Exception]):
        self.path, self._error = path, error
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the ``with`` block.

        Yields
        ------
        None

        Raises
        ------
        Exception
            ``error(exc)`` if the lock file cannot be opened.
        """
        if fcntl is None:  # pragma: no cover - not POSIX
            yield
            return
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise self._error(exc) from exc
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file.

        Returns
        -------
        None
        """
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Checkpointer:
    """Checkpoints of the WAL after every ``every`` commits, run by a thread of their own.

    A PASSIVE checkpoint copies what no reader still needs and lets writers go
    on.  The WAL restarts from its beginning only if a write begins when all
    of it is copied; when commits keep coming, some always came during the
    checkpoint, and the WAL grows.  So past ``catch_up`` frames the thread
    checkpoints once more holding the writers' lock: only the frames added
    meanwhile are left to copy, and the next commit restarts the WAL.

    Parameters
    ----------
    connect : callable
        ``connect()``: a new connection to the database.
    lock : WriterLock
        The checkpointer's own handle on the writers' lock.
    every : int
        Commits between two checkpoints.
    catch_up : int
        WAL frames beyond which the writers are held back for the last copy.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], lock: WriterLock,
                 every: int = CHECKPOINT_COMMITS, catch_up: int = CATCH_UP_FRAMES):
        self._connect, self._lock = connect, lock
        self.every, self.catch_up = every, catch_up
        self._commits = 0
        self._con: sqlite3.Connection | None = None
        # the group writer's thread, started on the first request: after a fork each worker has its own
        self._thread = GroupWriter(self._run, lambda: RuntimeError("the checkpointer is closed"),
                                   name="ledger-checkpoint")
        #: Checkpoints run so far, the most WAL frames one found, WAL restarts seen.
        self.runs, self.most_frames, self.restarts = 0, 0, 0
        self._frames = 0

    def committed(self) -> None:
        """Count one commit; ask for a checkpoint when one is due (called by the ledger's writer).

        Returns
        -------
        None
        """
        self._commits += 1
        if self._commits >= self.every:
            self._commits = 0
            with contextlib.suppress(RuntimeError):  # closed: the ledger is closing
                self._thread.submit([], _ignored)

    def _run(self, requests: list) -> None:
        # one checkpoint for every request waiting (more came while the last one ran)
        try:
            self._con = self._con or self._connect()
            self._checkpoint(self._con)
        except (sqlite3.Error, OSError, RuntimeError):
            # the next commits try again; meanwhile the WAL grows, nothing is lost
            self._drop()

    def _checkpoint(self, con: sqlite3.Connection) -> None:
        frames, copied = self._passive(con)
        if frames < self._frames:
            self.restarts += 1
        self._frames = frames
        self.most_frames = max(self.most_frames, frames)
        if frames <= self.catch_up:
            return
        # not restarted for long: commits came during every checkpoint.  Chase the tail
        # unlocked while it is long (a slow disk), so that the writers wait for a short copy.
        for _ in range(_CHASES):
            left = copied
            frames, copied = self._passive(con)
            if frames - left <= _TAIL_FRAMES:
                break
        with self._lock.held():
            self._frames, _ = self._passive(con)

    def _passive(self, con: sqlite3.Connection) -> tuple:
        _, frames, copied = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        return frames, copied

    def _drop(self) -> None:
        with contextlib.suppress(sqlite3.Error, AttributeError):
            self._con.close()
        self._con = None

    def close(self) -> None:
        """Stop the thread (a checkpoint asked for runs first) and release its connection.

        Returns
        -------
        None
        """
        self._thread.close()
        self._drop()
        self._lock.close()


def _ignored(stored: list, error: Exception | None) -> None:
    """Nobody waits for a checkpoint."""
