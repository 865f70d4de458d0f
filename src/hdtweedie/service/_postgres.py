"""The PostgreSQL ledger backend (psycopg 3 with a connection pool)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ._events import GENESIS
from ._ledger import ROW, Ledger, LedgerError, chain_batch, check_durability, fail
from ._turns import WriterTurns, turns_path

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS ledger_events (
    seq BIGINT PRIMARY KEY, prediction_id TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
    policy_id TEXT NOT NULL, transaction_type TEXT NOT NULL, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_events_policy_time ON ledger_events (policy_id, created_at);
CREATE INDEX IF NOT EXISTS ledger_events_time ON ledger_events (created_at);
CREATE TABLE IF NOT EXISTS ledger_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '{GENESIS}') ON CONFLICT (id) DO NOTHING;
CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$;
DROP TRIGGER IF EXISTS ledger_events_append_only ON ledger_events;
CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
"""
# Several workers may create the tables at once: serialise that too.
_SCHEMA_LOCK = 7_212_001
# A group in one statement: the head moves only from the head the events were chained after, and
# the rows are inserted only if it did (none otherwise: the caller then locks the head and retries).
# One statement for any group size (arrays, not a VALUES row per event), prepared by psycopg.
_APPEND = f"""
WITH head AS (UPDATE ledger_head SET seq = %s, hash = %s WHERE id = 1 AND seq = %s AND hash = %s
              RETURNING id)
INSERT INTO ledger_events ({ROW})
SELECT r.* FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
                       %b::text[], %b::text[]) AS r, head
"""


class PostgresLedger(Ledger):
    """A ledger in PostgreSQL; writers are serialised by ``SELECT ... FOR UPDATE`` on the head row.

    The writers of one machine (the workers of a service, services beside
    each other) first take turns on a local lock file that holds the head
    the last of them committed (:mod:`._turns`), so that a group is
    normally one statement chained after the true head: one round trip,
    no lock held in the database.  A group chained after a stale head (a
    writer on another machine moved it) is refused by that statement and
    chained again after the head read under the row lock.

    Parameters
    ----------
    conninfo : str
        A ``postgresql://`` URL for psycopg.
    url : str
        The URL shown in messages (password removed).
    pool_size : int
        Most connections held open.
    timeout : float
        Seconds to wait for a connection before a request fails.
    durability : {"full", "normal"}
        ``"full"``: the server's ``synchronous_commit`` setting (by default
        each commit is flushed to its WAL before it is acknowledged).
        ``"normal"``: ``synchronous_commit = off`` for the ledger's writes:
        a commit is acknowledged once the server has it in memory; it
        survives the service being killed, while a crash of the database
        server or its machine may undo the last commits (up to about three
        ``wal_writer_delay``), never a part of one.
    """

    mark = "%s"

    def __init__(self, conninfo: str, url: str, pool_size: int = 4, timeout: float = 3.0,
                 durability: str = "full"):
        super().__init__(url)
        self._relaxed = check_durability(durability) == "normal"
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ImportError("a postgresql:// ledger needs psycopg and psycopg-pool: "
                              "pip install 'hdtweedie[serve]'") from exc
        self._errors = (psycopg.Error, OSError)
        self._timeout = timeout
        try:
            with psycopg.connect(conninfo, connect_timeout=max(1, int(timeout)), autocommit=True) as con:
                with con.transaction():
                    con.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    con.execute(_SCHEMA)
        except self._errors as exc:
            raise LedgerError(f"ledger {url}: cannot connect or create the tables: {exc}") from exc
        # The head after the last commit (this process's, or the one the turns file passed on), and
        # whether to chain the next group after it without reading it first (true while no writer
        # of another machine has written in between).
        self._head: tuple | None = None
        self._fast = False
        self._turns = WriterTurns(turns_path(url))
        # The writer's connection for the group of its turn, or why it could not have one.
        self._held = None
        self._held_error: LedgerError | None = None
        # Autocommit: a group known to follow the head is one statement, its own transaction, so one
        # round trip; transactions of several statements say BEGIN themselves.
        self._pool = ConnectionPool(conninfo, min_size=min(2, pool_size), max_size=pool_size, timeout=timeout,
                                    kwargs={"connect_timeout": max(1, int(timeout)), "autocommit": True},
                                    configure=self._configure, open=True)

    @contextlib.contextmanager
    def _connection(self, held: bool = False) -> Iterator:
        """A pooled connection; ``held``: the writer's, taken for the group of its turn."""
        from psycopg_pool import PoolTimeout

        if held and self._held_error is not None:
            raise self._held_error
        try:
            with (contextlib.nullcontext(self._held) if held
                  else self._pool.connection(timeout=self._timeout)) as con:
                yield con
        except (PoolTimeout, *self._errors) as exc:
            raise LedgerError(f"ledger {self.url} unavailable: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self, pipeline: bool = False, held: bool = False) -> Iterator:
        with self._connection(held) as con, (con.pipeline() if pipeline else contextlib.nullcontext()), \
                con.transaction(), con.cursor() as cur:
            yield cur

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """The writer's connection, then this machine's turn (see :class:`GroupWriter`).

        Waiting for a connection (the database down or slow to accept) happens
        outside the turn, so that it does not hold up the other writers.
        """
        from psycopg_pool import PoolTimeout

        try:
            con = self._pool.getconn(timeout=self._timeout)
        except (PoolTimeout, *self._errors) as exc:
            self._held_error = LedgerError(f"ledger {self.url} unavailable: {exc}")
            try:
                yield  # the group is refused with that error, outside the turn
            finally:
                self._held_error = None
            return
        self._held = con
        try:
            with self._turns.turn():
                yield
        finally:
            self._held = None
            with contextlib.suppress(Exception):  # at worst a pool slot lost, never a caller left waiting
                self._pool.putconn(con)

    def _configure(self, con) -> None:
        # Per connection, once: no SET per transaction.
        if self._relaxed:
            con.execute("SET synchronous_commit = off")

    @contextlib.contextmanager
    def _write(self) -> Iterator:
        # Pipelined: BEGIN and the head's SELECT go in one round trip, the INSERT and COMMIT in a
        # second (instead of one round trip per statement).
        with self._transaction(pipeline=True, held=True) as cur:
            yield cur

    def _commit(self, batch: list) -> None:
        """Write a group in one round trip when the head is known, else lock the head first.

        Called in this machine's turn: the head the previous writer left is the one to follow.
        """
        try:
            self._head = self._turns.head() or self._head
            if not (self._fast and self._append(batch, self._head)) and not self._append(batch, None):
                raise LedgerError(f"ledger {self.url}: the chain head moved while it was locked")
        except Exception as exc:
            self._head, self._fast = None, False
            fail(batch, self.url, exc)
        self._turns.set_head(self._head)

    def _append(self, batch: list, head: tuple | None) -> bool:
        """Chain and insert a group after ``head`` (read and locked first if None); False if it moved."""
        if head is None:
            with self._write() as cur:
                head = self._lock_head(cur)
                self._fast = tuple(head) == self._head
                rows, seq, last = chain_batch(batch, *head)
                cur.execute(_APPEND, _params(rows, seq, last, head))
        else:
            rows, seq, last = chain_batch(batch, *head)
            with self._connection(held=True) as con:
                cur = con.execute(_APPEND, _params(rows, seq, last, head))
        if cur.rowcount != len(rows):
            return False
        self._head = (seq, last)
        return True

    def _read(self):
        return self._transaction()

    def _lock_head(self, cur) -> tuple:
        cur.execute("SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE")
        return cur.fetchone()

    def _probe(self) -> None:
        with self._transaction() as cur:
            cur.execute("SELECT pg_is_in_recovery(), has_table_privilege('ledger_events', 'INSERT')")
            recovery, can_insert = cur.fetchone()
        if recovery or not can_insert:
            raise LedgerError(f"ledger {self.url}: the database is read-only for this user")

    def _release(self) -> None:
        self._pool.close()
        self._turns.close()


def _params(rows: list, seq: int, last: str, head: tuple) -> tuple:
    """The parameters of ``_APPEND``: the new head, the expected head, then one array per column."""
    return (seq, last, *head, *(list(c) for c in zip(*rows)))
