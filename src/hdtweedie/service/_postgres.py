"""The PostgreSQL ledger backend (psycopg 3 with a connection pool)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ._events import GENESIS
from ._ledger import Ledger, LedgerError, check_durability

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


class PostgresLedger(Ledger):
    """A ledger in PostgreSQL; writers are serialised by ``SELECT ... FOR UPDATE`` on the head row.

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
        self._pool = ConnectionPool(conninfo, min_size=min(2, pool_size), max_size=pool_size, timeout=timeout,
                                    kwargs={"connect_timeout": max(1, int(timeout))}, open=True)

    @contextlib.contextmanager
    def _transaction(self, pipeline: bool = False) -> Iterator:
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection(timeout=self._timeout) as con, \
                    (con.pipeline() if pipeline else contextlib.nullcontext()), \
                    con.transaction(), con.cursor() as cur:
                yield cur
        except (PoolTimeout, *self._errors) as exc:
            raise LedgerError(f"ledger {self.url} unavailable: {exc}") from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator:
        # Pipelined: BEGIN, SET and the head's SELECT go in one round trip, the INSERTs, the
        # head's UPDATE and COMMIT in a second (instead of one round trip per statement).
        with self._transaction(pipeline=True) as cur:
            if self._relaxed:
                cur.execute("SET LOCAL synchronous_commit = off")
            yield cur

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
