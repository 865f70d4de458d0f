"""Durability levels of the ledger, group commit across threads and across two workers."""

from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest
from service_support import RISK, Server, make_models

from hdtweedie.service import LedgerError, ServiceConfig, open_ledger


def _event(policy: str = "P-1") -> dict:
    return {"prediction_id": str(uuid.uuid4()), "policy_id": policy, "transaction_type": "quote",
            "record": {"area": "E"}, "prediction": 1.0}


@pytest.mark.parametrize("durability, level", [("full", 2), ("normal", 1)])
def test_durability_sets_sqlite_synchronous(tmp_path, durability, level):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}", durability)
    try:
        ledger.append([_event()])
        assert ledger._writer_con.execute("PRAGMA synchronous").fetchone()[0] == level
        assert ledger.verify().ok
    finally:
        ledger.close()


def test_bad_durability_is_refused_before_opening(tmp_path):
    with pytest.raises(ValueError, match="durability must be one of full, normal, got 'fast'"):
        open_ledger(f"sqlite:///{tmp_path / 'l.db'}", "fast")
    assert not (tmp_path / "l.db").exists()
    with pytest.raises(ValueError, match="durability.*'FULL'"):
        ServiceConfig(models=("m.json",), ledger="sqlite:///l.db", durability="FULL")


def test_concurrent_appends_commit_in_groups_in_one_chain(tmp_path):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}", "normal")
    ids: list = []

    def client(k: int) -> None:
        for _ in range(40):
            ids.extend(e["prediction_id"] for e in ledger.append([_event(f"P-{k}"), _event(f"P-{k}")]))

    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        events = list(ledger.events())
        report = ledger.verify()
    finally:
        ledger.close()
    assert report.ok and report.events == 640 and sorted(ids) == sorted(e["prediction_id"] for e in events)
    # a caller's events are consecutive: a group keeps each caller's events together
    pos = {e["prediction_id"]: e["seq"] for e in events}
    assert all(pos[b] == pos[a] + 1 for a, b in zip(ids[::2], ids[1::2]))
    with pytest.raises(LedgerError, match="closed"):
        ledger.append([_event()])


def test_two_workers_share_one_sqlite_chain(tmp_path):
    models = make_models(tmp_path)
    db = tmp_path / "l.db"
    url = f"sqlite:///{db}"
    server = Server([models[0], "--ledger", url, "--workers", "2", "--durability", "normal"], tmp_path)
    received: list = []

    def client(k: int) -> None:
        with server.client() as c:
            for _ in range(25):
                r = c.post("/predict", json={"policy_id": f"P-{k}", "record": RISK})
                assert r.status_code == 200, r.text
                received.append(r.json()["prediction_id"])

    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        server.stop()
    assert len(received) == 100 and (tmp_path / "l.db-writer").exists()
    ledger = open_ledger(url)
    try:
        assert all(ledger.get(pid) is not None for pid in received)
        assert ledger.verify().ok
    finally:
        ledger.close()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM ledger_events").fetchone()[0] == 100
