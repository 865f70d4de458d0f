"""The hash-chained ledger: append, verify (edits, deletions, reordering), export, append-only."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
from service_support import PostgresCluster, cli

from hdtweedie.service import LedgerError, open_ledger


def _events(n: int, policy: str = "P-1") -> list:
    return [{"prediction_id": str(uuid.uuid4()), "policy_id": policy, "transaction_type": "quote",
             "record": {"area": "E", "i": i}, "prediction": 100.0 + i} for i in range(n)]


@pytest.fixture
def sqlite_ledger(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = open_ledger(url)
    for _ in range(3):
        ledger.append(_events(2))
    yield ledger, tmp_path / "ledger.db", url
    ledger.close()


def _tamper(path, *sql):
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("DROP TRIGGER ledger_events_no_update")
    con.execute("DROP TRIGGER ledger_events_no_delete")
    for statement in sql:
        con.execute(statement)
    con.close()


def test_chain_links_every_event(sqlite_ledger):
    ledger, _, url = sqlite_ledger
    events = list(ledger.events())
    assert [e["seq"] for e in events] == list(range(1, 7))
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(events, events[1:]))
    report = ledger.verify()
    assert report.ok and report.events == 6
    r = cli("ledger", "verify", url)
    assert r.returncode == 0 and "6 event(s), chain intact" in r.stdout


def test_the_table_refuses_updates_and_deletes(sqlite_ledger):
    _, path, _ = sqlite_ledger
    con = sqlite3.connect(path)
    for sql in ("UPDATE ledger_events SET body = '{}' WHERE seq = 1", "DELETE FROM ledger_events"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute(sql)
    con.close()


EDIT = ("UPDATE ledger_events SET body = replace(body, '\"prediction\":100.0', '\"prediction\":1.0') "
        "WHERE seq = 3")


@pytest.mark.parametrize("sql, seq, words", [
    ([EDIT], 3, "edited"),
    (["UPDATE ledger_events SET policy_id = 'P-9' WHERE seq = 2"], 2, "column policy_id"),
    (["DELETE FROM ledger_events WHERE seq = 4"], 5, "deleted"),
    (["UPDATE ledger_events SET seq = -seq WHERE seq IN (2, 3)",
      "UPDATE ledger_events SET seq = 3 WHERE seq = -2", "UPDATE ledger_events SET seq = 2 WHERE seq = -3"],
     2, "reordered"),
    (["DELETE FROM ledger_events WHERE seq = 6"], 6, "end were deleted"),
])
def test_verify_names_the_first_bad_event(sqlite_ledger, sql, seq, words):
    ledger, path, url = sqlite_ledger
    _tamper(path, *sql)
    report = ledger.verify()
    assert not report.ok and report.first_bad["seq"] == seq and words in report.first_bad["problem"]
    r = cli("ledger", "verify", url)
    assert r.returncode == 1 and f"event {seq}" in r.stderr and words in r.stderr


def test_a_failed_append_writes_nothing(sqlite_ledger):
    ledger, _, _ = sqlite_ledger
    dup = _events(2)
    dup[1]["prediction_id"] = dup[0]["prediction_id"]
    with pytest.raises(LedgerError):
        ledger.append(dup)
    assert ledger.verify().events == 6 and ledger.verify().ok


def test_export_writes_events_since_a_time(sqlite_ledger, tmp_path):
    ledger, _, url = sqlite_ledger
    out = tmp_path / "events.jsonl"
    r = cli("ledger", "export", url, "--out", out)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines == list(ledger.events())
    cut = lines[4]["created_at"]  # the third append (events 5 and 6)
    r = cli("ledger", "export", url, "--since", cut, "--out", out)
    assert [json.loads(x)["seq"] for x in out.read_text().splitlines()] == [5, 6]
    r = cli("ledger", "export", url, "--since", "2999-01-01", "--out", "-")
    assert r.returncode == 0 and r.stdout == ""
    r = cli("ledger", "export", url, "--since", "yesterday", "--out", out)
    assert r.returncode == 2 and "--since" in r.stderr and "yesterday" in r.stderr


@pytest.mark.parametrize("url, words", [
    ("mysql://h/db", "ledger URL must be"), ("sqlite:///", "ledger URL must be"), (42, "text")])
def test_bad_urls(url, words):
    with pytest.raises((ValueError, TypeError), match=words):
        open_ledger(url)


def test_postgres_ledger_chain_and_tamper_detection():
    cluster = PostgresCluster()
    try:
        ledger = open_ledger(cluster.url)
        ledger.append(_events(3))
        ledger.append(_events(1, "P-2"))
        assert ledger.verify().ok and ledger.verify().events == 4
        assert [e["policy_id"] for e in ledger.history("P-2", "2000-01-01")] == ["P-2"]
        import psycopg

        with psycopg.connect(cluster.url, autocommit=True) as con:
            with pytest.raises(psycopg.Error, match="append-only"):
                con.execute("UPDATE ledger_events SET body = '{}' WHERE seq = 1")
            con.execute("ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_append_only")
            con.execute("UPDATE ledger_events SET body = replace(body, '101.0', '1.0') WHERE seq = 2")
        report = ledger.verify()
        assert not report.ok and report.first_bad["seq"] == 2 and "edited" in report.first_bad["problem"]
        r = cli("ledger", "verify", cluster.url)
        assert r.returncode == 1 and "event 2" in r.stderr
        ledger.close()
    finally:
        cluster.remove()


def test_postgres_writers_in_turn_keep_one_chain():
    # Each writer appends after the head of its own last commit without reading it; when another
    # (here: one that does not share this machine's turns, as on another machine, by its URL) moved
    # it meanwhile, nothing is written and the group is chained after the real head.
    cluster = PostgresCluster()
    try:
        a = open_ledger(cluster.url, "normal")
        b = open_ledger(cluster.url + "?application_name=elsewhere", "normal")
        stored = []
        for i in range(30):
            stored += (b if i % 3 == 0 else a).append(_events(1 + i % 2))
        assert a._fast and not b._fast  # a's last commit followed its own
        report = a.verify()
        assert report.ok and report.events == 45
        assert [e["seq"] for e in stored] == list(range(1, 46))
        a.close()
        b.close()
    finally:
        cluster.remove()


def test_concurrent_appends_are_grouped_into_one_valid_chain(tmp_path):
    import threading

    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    stored: list = []

    def writer():
        for _ in range(25):
            stored.extend(ledger.append(_events(2)))

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = ledger.verify()
    ledger.close()
    assert report.ok and report.events == 400
    assert sorted(e["seq"] for e in stored) == list(range(1, 401))


def test_chained_text_and_hash_are_the_canonical_ones():
    from hdtweedie.service._events import GENESIS, chain, event_hash, event_text

    events = [{"prediction_id": "p", "a": 1, "h": [1.5, None], "hasg": "\u00e9", "hash0": {"hash": 2},
               "hash": "stale", "zz": {"b": 1e-7, "a": 1e16}},
              {"prediction_id": "q"}]
    chained = chain(events, 4, GENESIS, "2026-01-01T00:00:00.000000Z")
    for body, text in chained:
        assert text == event_text(body) and json.loads(text) == body
        assert body["hash"] == event_hash(body)
    assert chained[0][0]["prev_hash"] == GENESIS and chained[1][0]["prev_hash"] == chained[0][0]["hash"]
    assert [b["seq"] for b, _ in chained] == [5, 6]


def test_prediction_ids_are_distinct_random_uuids():
    from hdtweedie.service._pricing import new_event

    ids = [new_event({}, {}, False)["prediction_id"] for _ in range(3000)]  # crosses buffer refills
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)
