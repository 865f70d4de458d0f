"""The prediction ledger: an append-only, hash-chained event table, and its SQLite backend."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator

from ._events import GENESIS, VerifyReport, chain, event_hash, event_text, utc_now, verify_rows


class LedgerError(RuntimeError):
    """The ledger could not be written or read (the database is down, read-only, full...)."""


class _Pending:
    """One caller's events waiting for a group commit."""

    __slots__ = ("events", "stored", "error", "done")

    def __init__(self, events: list):
        self.events = events
        self.stored: list = []
        self.error: Exception | None = None
        self.done = threading.Event()


_ROW = "seq, prediction_id, created_at, policy_id, transaction_type, prev_hash, hash, body"
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
        self._group = threading.Lock()
        self._waiting: list = []
        self._leading = False

    # Backends provide these.
    def _write(self) -> contextlib.AbstractContextManager:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read(self) -> contextlib.AbstractContextManager:  # pragma: no cover - abstract
        raise NotImplementedError

    def _lock_head(self, cur) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the connections.

        Returns
        -------
        None
        """

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

        Concurrent calls are committed together (group commit): one caller
        writes everything waiting in one transaction, so the ledger pays one
        disk flush per group, not per prediction; each call returns only once
        its own events are committed.

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
        mine = _Pending(events)
        with self._group:
            self._waiting.append(mine)
            lead = not self._leading
            self._leading = self._leading or lead
        if not lead:
            mine.done.wait()
        while lead:
            with self._group:
                batch, self._waiting = self._waiting, []
                if not batch:
                    self._leading = lead = False
                    break
            self._commit(batch)
        if mine.error is not None:
            raise mine.error
        return mine.stored

    def _commit(self, batch: list) -> None:
        """Write the events of every waiting call in one transaction and wake the callers."""
        m = self.mark
        try:
            with self._write() as cur:
                seq, head = self._lock_head(cur)
                now = utc_now()
                for item in batch:
                    item.stored = chain(item.events, seq, head, now)
                    seq, head = item.stored[-1]["seq"], item.stored[-1]["hash"]
                rows = [(e["seq"], e["prediction_id"], e["created_at"], e["policy_id"], e["transaction_type"],
                         e["prev_hash"], e["hash"], event_text(e)) for item in batch for e in item.stored]
                cur.executemany(f"INSERT INTO ledger_events ({_ROW}) VALUES ({', '.join([m] * 8)})", rows)
                cur.execute(f"UPDATE ledger_head SET seq = {m}, hash = {m} WHERE id = 1", (seq, head))
        except LedgerError as exc:
            for item in batch:
                item.error = exc
        except Exception as exc:  # a bug or a driver error must not leave callers waiting
            for item in batch:
                item.error = LedgerError(f"ledger {self.url}: write failed: {exc}")
        finally:
            for item in batch:
                item.done.set()

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
        sql, params = f"SELECT {_ROW} FROM ledger_events", []
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
    """A ledger in one SQLite file (WAL journal, full synchronous commits).

    Writers are serialised by ``BEGIN IMMEDIATE``.  Every transaction opens
    its own connection, so a file that became read-only is noticed at once;
    one idle connection is kept open so that the WAL is not checkpointed away
    after each write.

    Parameters
    ----------
    path : str
        The database file (created with the tables if absent).
    url : str
        The URL it was opened from.
    """

    def __init__(self, path: str, url: str):
        super().__init__(url)
        self.path = path
        try:
            con = self._connect()
            con.executescript(_SQLITE_SCHEMA)
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {url}: cannot open or create {path!r}: {exc}") from exc
        self._anchor = con

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        return con

    @contextlib.contextmanager
    def _transaction(self, begin: str, commit: bool = True) -> Iterator[sqlite3.Cursor]:
        try:
            con = self._connect()
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {self.url} unavailable: {exc}") from exc
        try:
            cur = con.cursor()
            cur.execute(begin)
            try:
                yield cur
            except BaseException:
                con.rollback()
                raise
            con.commit() if commit else con.rollback()
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {self.url} unavailable: {exc}") from exc
        finally:
            con.close()

    def _write(self):
        # SQLite reuses the process's open descriptors, which would keep writing to a file
        # made read-only (chmod, chattr +i, a read-only remount); refuse as a new open would.
        if not os.access(self.path, os.W_OK):
            raise LedgerError(f"ledger {self.url} unavailable: {self.path!r} is read-only")
        return self._transaction("BEGIN IMMEDIATE")

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

    def close(self) -> None:
        """Close the idle connection.

        Returns
        -------
        None
        """
        with contextlib.suppress(sqlite3.Error):
            self._anchor.close()
