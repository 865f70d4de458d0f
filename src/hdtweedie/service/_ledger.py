"""The prediction ledger: an append-only, hash-chained event table, and its SQLite backend."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator

from ._checkpoint import Checkpointer, WriterLock
from ._events import GENESIS, VerifyReport, chain, event_hash, utc_now, verify_rows
from ._group import GroupWriter


class LedgerError(RuntimeError):
    """The ledger could not be written or read (the database is down, read-only, full...)."""


def _outcome(stored: list, error: Exception | None) -> list:
    if error is not None:
        raise error
    return stored


def chain_batch(batch: list, seq: int, head: str) -> tuple:
    """Chain the events of a group after the head ``(seq, head)``, filling each caller's ``stored``.

    Parameters
    ----------
    batch : list of Pending
    seq : int
    head : str
        The head's hash.

    Returns
    -------
    tuple
        ``(rows, seq, head)``: the table rows, and the new head.
    """
    now = utc_now()
    rows = []
    for item in batch:
        chained = chain(item.events, seq, head, now)
        item.stored = [e for e, _ in chained]
        seq, head = item.stored[-1]["seq"], item.stored[-1]["hash"]
        rows += [(e["seq"], e["prediction_id"], e["created_at"], e["policy_id"], e["transaction_type"],
                  e["prev_hash"], e["hash"], text) for e, text in chained]
    return rows, seq, head


def fail(batch: list, url: str, exc: Exception) -> None:
    """Give every caller of a group the error that refused it (a bug must not leave callers waiting).

    Parameters
    ----------
    batch : list of Pending
    url : str
    exc : Exception
    """
    error = exc if isinstance(exc, LedgerError) else LedgerError(f"ledger {url}: write failed: {exc}")
    for item in batch:
        item.stored, item.error = [], error


#: Values of ``--durability``.
DURABILITY = ("full", "normal")
_SQLITE_SYNC = {"full": "FULL", "normal": "NORMAL"}


def check_durability(durability: object) -> str:
    """Check a durability level.

    Parameters
    ----------
    durability : object

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If it is not one of :data:`DURABILITY`.
    """
    if durability not in DURABILITY:
        raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, got {durability!r}")
    return durability


#: The ledger_events columns of a stored event, in table order (every backend's SQL uses it).
ROW = "seq, prediction_id, created_at, policy_id, transaction_type, prev_hash, hash, body"
_LIMIT = 1000


class Ledger:
    """What the service needs of a ledger; backends fill in the transactions.

    Parameters
    ----------
    url : str
        The ledger's URL, shown (without password) in messages.
    """

    #: Placeholder of the backend's SQL driver.
    mark = "?"

    def __init__(self, url: str):
        self.url = url
        self._writer = GroupWriter(self._commit, lambda: LedgerError(f"ledger {url} is closed"),
                                   turn=self._turn)

    def _turn(self) -> contextlib.AbstractContextManager:
        """Held by the writer while it takes and commits a group (a backend may queue its writers)."""
        return contextlib.nullcontext()

    # Backends provide these.
    def _write(self) -> contextlib.AbstractContextManager:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read(self) -> contextlib.AbstractContextManager:  # pragma: no cover - abstract
        raise NotImplementedError

    def _lock_head(self, cur) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Commit what is queued, stop the writer and release the connections.

        Returns
        -------
        None
        """
        self._writer.close()
        self._release()

    def _release(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def writable(self) -> tuple:
        """Whether an event could be written now.

        Returns
        -------
        tuple
            ``(True, "")`` or ``(False, reason)``.
        """
        try:
            self._probe()
        except LedgerError as exc:
            return False, str(exc)
        return True, ""

    def _probe(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def append(self, events: list) -> list:
        """Commit events after the chain head, all or none, and return them as stored.

        Concurrent calls are committed together (group commit): a writer
        thread writes everything waiting in one transaction, so the ledger
        pays one disk flush per group, not per prediction; each call returns
        only once its own events are committed.

        Parameters
        ----------
        events : list of dict
            Event content without ``seq``, ``prev_hash``, ``created_at`` and ``hash``.

        Returns
        -------
        list of dict
            The events with those fields added, committed.

        Raises
        ------
        LedgerError
            If the events could not be committed; then none was.
        """
        return _outcome(*self._writer.wait(events))

    async def append_async(self, events: list) -> list:
        """:meth:`append` for a coroutine: the event loop serves others until the commit.

        Parameters
        ----------
        events : list of dict

        Returns
        -------
        list of dict
            As :meth:`append`.

        Raises
        ------
        LedgerError
            As :meth:`append`.
        """
        return _outcome(*await self._writer.wait_async(events))

    def _commit(self, batch: list) -> None:
        """Write the events of every waiting call in one transaction and wake the callers."""
        m = self.mark
        try:
            with self._write() as cur:
                rows, seq, head = chain_batch(batch, *self._lock_head(cur))
                cur.executemany(f"INSERT INTO ledger_events ({ROW}) VALUES ({', '.join([m] * 8)})", rows)
                cur.execute(f"UPDATE ledger_head SET seq = {m}, hash = {m} WHERE id = 1", (seq, head))
        except Exception as exc:
            fail(batch, self.url, exc)

    def get(self, prediction_id: str) -> tuple | None:
        """The stored event with this prediction id.

        Parameters
        ----------
        prediction_id : str

        Returns
        -------
        tuple or None
            ``(body, intact)``: the content and whether it matches its hash.
        """
        with self._read() as cur:
            cur.execute(f"SELECT hash, body FROM ledger_events WHERE prediction_id = {self.mark}",
                        (prediction_id,))
            row = cur.fetchone()
        if row is None:
            return None
        body = json.loads(row[1])
        return body, event_hash(body) == row[0] == body.get("hash")

    def history(self, policy_id: str, since: str, transaction_type: str | None = None,
                limit: int = _LIMIT) -> list:
        """Events of one policy since a time, newest first.

        Parameters
        ----------
        policy_id : str
        since : str
            UTC time in the ledger's text form.
        transaction_type : str, optional
            Only events of this type.
        limit : int
            At most this many events.

        Returns
        -------
        list of dict
        """
        m = self.mark
        sql = f"SELECT body FROM ledger_events WHERE policy_id = {m} AND created_at >= {m}"
        params: list = [policy_id, since]
        if transaction_type is not None:
            sql += f" AND transaction_type = {m}"
            params.append(transaction_type)
        sql += f" ORDER BY seq DESC LIMIT {int(limit)}"
        with self._read() as cur:
            cur.execute(sql, params)
            return [json.loads(r[0]) for r in cur.fetchall()]

    def events(self, since: str | None = None) -> Iterator[dict]:
        """Every event (from ``since``, a UTC time), in chain order.

        Parameters
        ----------
        since : str, optional

        Yields
        ------
        dict
            The stored content and hash of each event.
        """
        for row in self._rows(since):
            yield json.loads(row[-1])

    def _rows(self, since: str | None = None) -> Iterator[tuple]:
        sql, params = f"SELECT {ROW} FROM ledger_events", []
        if since is not None:
            sql, params = sql + f" WHERE created_at >= {self.mark}", [since]
        with self._read() as cur:
            cur.execute(sql + " ORDER BY seq", params)
            while rows := cur.fetchmany(500):
                yield from rows

    def verify(self) -> VerifyReport:
        """Check every event against its hash and its predecessor, and the head against the last.

        Returns
        -------
        VerifyReport
        """
        with self._read() as cur:
            cur.execute("SELECT seq, hash FROM ledger_head WHERE id = 1")
            head = cur.fetchone()
        return verify_rows(self._rows(), head)


_SQLITE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS ledger_events (
    seq INTEGER PRIMARY KEY, prediction_id TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
    policy_id TEXT NOT NULL, transaction_type TEXT NOT NULL, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_events_policy_time ON ledger_events (policy_id, created_at);
CREATE INDEX IF NOT EXISTS ledger_events_time ON ledger_events (created_at);
CREATE TABLE IF NOT EXISTS ledger_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
INSERT OR IGNORE INTO ledger_head (id, seq, hash) VALUES (1, 0, '{GENESIS}');
CREATE TRIGGER IF NOT EXISTS ledger_events_no_update BEFORE UPDATE ON ledger_events
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_events_no_delete BEFORE DELETE ON ledger_events
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
"""


class SQLiteLedger(Ledger):
    """A ledger in one SQLite file (WAL journal).

    Writers are serialised by ``BEGIN IMMEDIATE``; the service's workers
    first take a lock on the file ``PATH-writer``, so that they wait their
    turn in order rather than poll.  The writer thread keeps one connection
    (reopened after an error); reads open their own.  One idle connection is
    kept open so that the WAL is not checkpointed away.  Commits never
    checkpoint the WAL: a :class:`~._checkpoint.Checkpointer` thread does,
    so that no price waits for the copy into the database.

    Parameters
    ----------
    path : str
        The database file (created with the tables if absent).
    url : str
        The URL it was opened from.
    durability : {"full", "normal"}
        ``"full"``: ``synchronous=FULL``, each commit is flushed to disk
        before it is acknowledged (survives a power loss or an OS crash).
        ``"normal"``: ``synchronous=NORMAL``, a commit is in the WAL file
        but flushed only at checkpoints: it survives the service being
        killed, while a power loss or an OS crash may undo the last commits
        (the file stays consistent and the chain intact).
    """

    def __init__(self, path: str, url: str, durability: str = "full"):
        super().__init__(url)
        self.path = path
        self._sync = _SQLITE_SYNC[check_durability(durability)]
        self._writer_con: sqlite3.Connection | None = None
        self._queue = self._lock_file()
        self._checkpoints = Checkpointer(self._connect, self._lock_file())
        try:
            con = self._connect()
            con.executescript(_SQLITE_SCHEMA)
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {url}: cannot open or create {path!r}: {exc}") from exc
        self._anchor = con

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA synchronous={self._sync}")
        con.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job, off the commit path
        return con

    def _lock_file(self) -> WriterLock:
        def error(exc: OSError) -> LedgerError:
            return LedgerError(f"ledger {self.url} unavailable: {exc}")

        return WriterLock(self.path + "-writer", error)

    @contextlib.contextmanager
    def _transaction(self, begin: str, commit: bool = True, keep: bool = False) -> Iterator[sqlite3.Cursor]:
        try:
            con = (self._writer_con if keep else None) or self._connect()
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {self.url} unavailable: {exc}") from exc
        ok = False
        try:
            cur = con.cursor()
            cur.execute(begin)
            try:
                yield cur
            except BaseException:
                con.rollback()
                raise
            con.commit() if commit else con.rollback()
            ok = True
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {self.url} unavailable: {exc}") from exc
        finally:
            if keep and ok:
                self._writer_con = con  # the writer's connection, reused while it works
            else:
                if keep:
                    self._writer_con = None
                con.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        # SQLite reuses the process's open descriptors, which would keep writing to a file
        # made read-only (chmod, chattr +i, a read-only remount); refuse as a new open would.
        if not os.access(self.path, os.W_OK):
            raise LedgerError(f"ledger {self.url} unavailable: {self.path!r} is read-only")
        with self._queue.held(), self._transaction("BEGIN IMMEDIATE", keep=True) as cur:
            yield cur
        self._checkpoints.committed()

    def _read(self):
        return self._transaction("BEGIN")

    def _lock_head(self, cur) -> tuple:
        cur.execute("SELECT seq, hash FROM ledger_head WHERE id = 1")
        return cur.fetchone()

    def _probe(self) -> None:
        if not os.access(self.path, os.W_OK):
            raise LedgerError(f"ledger {self.url} unavailable: {self.path!r} is read-only")
        with self._transaction("BEGIN IMMEDIATE", commit=False) as cur:
            cur.execute("UPDATE ledger_head SET seq = seq WHERE id = 1")

    def _release(self) -> None:
        self._checkpoints.close()
        for con in (self._writer_con, self._anchor):
            with contextlib.suppress(sqlite3.Error, AttributeError):
                con.close()
        self._writer_con = None
        self._queue.close()
