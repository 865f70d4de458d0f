"""WAL checkpoints of the SQLite ledger: off the commit path, and the WAL kept bounded under load."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid

from hdtweedie.service import open_ledger
from hdtweedie.service._checkpoint import Checkpointer, WriterLock


def _event(policy: str = "P-1") -> dict:
    return {"prediction_id": str(uuid.uuid4()), "policy_id": policy, "transaction_type": "quote",
            "record": {"area": "E"}, "prediction": 1.0}


def _wal_frames(path) -> int:
    """Frames in the WAL since it last restarted (a PASSIVE checkpoint reports them)."""
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    finally:
        con.close()


def test_commits_leave_checkpoints_to_the_checkpointer(tmp_path):
    db = tmp_path / "l.db"
    ledger = open_ledger(f"sqlite:///{db}", "normal")
    try:
        ledger.append([_event()])
        # a commit crossing SQLite's automatic threshold would copy the WAL and flush twice
        assert ledger._writer_con.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        checkpoints = ledger._checkpoints
        for _ in range(checkpoints.every * 3):
            ledger.append([_event()])
        end = time.monotonic() + 10
        while checkpoints.runs < 2 and time.monotonic() < end:
            time.sleep(0.01)
        assert checkpoints.runs >= 2
        # the checkpoints restarted the WAL: fewer frames than three rounds of commits wrote
        assert 0 < checkpoints.most_frames and _wal_frames(db) < checkpoints.most_frames * 2
        assert ledger.verify().ok
    finally:
        ledger.close()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM ledger_events").fetchone()[0] == 1 + 3 * 250


def test_the_wal_stays_bounded_while_commits_never_pause(tmp_path):
    db = tmp_path / "l.db"
    ledger = open_ledger(f"sqlite:///{db}", "normal")
    ledger._checkpoints.every, ledger._checkpoints.catch_up = 20, 300
    stop = threading.Event()

    def client(k: int) -> None:
        while not stop.is_set():
            ledger.append([_event(f"P-{k}")])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(2.0)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        report = ledger.verify()
        checkpoints = ledger._checkpoints
        ledger.close()
    assert report.ok and report.events > 200 and checkpoints.runs > 2
    # commits came during every checkpoint, yet the catch-up under the writers' lock restarted the WAL
    assert checkpoints.restarts >= 1
    assert checkpoints.most_frames < report.events, (checkpoints.most_frames, report.events)


def test_a_failing_checkpoint_loses_nothing_and_stops_on_close(tmp_path):
    db = tmp_path / "l.db"
    calls: list = []

    def connect() -> sqlite3.Connection:
        calls.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    checkpoints = Checkpointer(connect, WriterLock(str(db) + "-writer", RuntimeError), every=2)
    for _ in range(6):
        checkpoints.committed()
    end = time.monotonic() + 10
    while not calls and time.monotonic() < end:
        time.sleep(0.01)
    checkpoints.close()
    assert calls and checkpoints.runs == 0
    checkpoints.committed()  # after close: nothing starts, nothing raises
