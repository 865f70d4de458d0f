"""A PostgreSQL ledger shared by several writers: local turns, the head they pass on, concurrent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid

import pytest
from service_support import PostgresCluster, env

from hdtweedie.service import open_ledger
from hdtweedie.service._group import GroupWriter
from hdtweedie.service._turns import WriterTurns, turns_path


def _events(n: int, policy: str = "P-1") -> list:
    return [{"prediction_id": str(uuid.uuid4()), "policy_id": policy, "transaction_type": "quote",
             "record": {"i": i}, "prediction": 100.0 + i} for i in range(n)]


@pytest.fixture(scope="module")
def cluster():
    pg = PostgresCluster()
    yield pg
    pg.remove()


@pytest.fixture
def url(cluster):
    # A database per test: each starts from an empty chain.
    import psycopg

    name = f"l_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.url, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return cluster.url.rsplit("/", 1)[0] + "/" + name


def test_writers_of_one_machine_follow_the_head_they_pass_on(url):
    # Alternating writers of one URL never chain after a stale head: each reads the head the other
    # left in the turns file, so every group after the first is one statement (the fast path).
    a, b = open_ledger(url, "normal"), open_ledger(url, "normal")
    try:
        stored = []
        for i in range(20):
            stored += (a if i % 2 else b).append(_events(1 + i % 3))
        assert a._fast and b._fast
        assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
        report = a.verify()
        assert report.ok and report.events == len(stored)
    finally:
        a.close()
        b.close()


def test_a_stale_head_in_the_turns_file_is_refused_and_the_real_head_followed(url):
    # As after a writer killed between its commit and its note, or a writer on another machine.
    ledger = open_ledger(url, "normal")
    try:
        first = ledger.append(_events(2))
        WriterTurns(turns_path(ledger.url)).set_head((1, "f" * 64))
        second = ledger.append(_events(1))
        assert second[0]["seq"] == 3 and second[0]["prev_hash"] == first[-1]["hash"]
        assert WriterTurns(turns_path(ledger.url)).head() == (3, second[0]["hash"])
        assert ledger.verify().ok
    finally:
        ledger.close()


_CHILD = """
import json, sys, threading
from hdtweedie.service import open_ledger
url, tag, threads, groups = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ledger = open_ledger(url, "normal")
stored, errors = [], []
sys.stdin.readline()  # start together
def work(t):
    for g in range(groups):
        events = [{"prediction_id": f"{tag}-{t}-{g}-{k}", "policy_id": tag, "transaction_type": "quote",
                   "record": {"k": k}, "prediction": 1.0} for k in range(1 + g % 2)]
        try:
            stored.extend((e["prediction_id"], e["seq"]) for e in ledger.append(events))
        except Exception as exc:
            errors.append(repr(exc))
workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
ledger.close()
print(json.dumps({"stored": stored, "errors": errors}))
"""


@pytest.mark.parametrize("same_machine", [True, False], ids=["shared-turns", "racing"])
def test_two_processes_writing_at_once_keep_one_chain(url, same_machine):
    # Two processes with four writing threads each: the racing pair does not share turns (as on two
    # machines, by their URLs), so their groups collide in the database and are chained again there.
    threads, groups = 4, 25
    urls = [url, url if same_machine else url + "?application_name=elsewhere"]
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, u, tag, str(threads), str(groups)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env()) for u, tag in zip(urls, "AB")]
    outs = [p.communicate("go\n", timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    results = [json.loads(out) for out, _ in outs]
    assert [r["errors"] for r in results] == [[], []]
    stored = [pair for r in results for pair in r["stored"]]
    per_process = threads * (groups + groups // 2)
    assert len(stored) == 2 * per_process
    ids, seqs = [pid for pid, _ in stored], sorted(seq for _, seq in stored)
    assert len(set(ids)) == len(ids) and seqs == list(range(1, len(ids) + 1))
    ledger = open_ledger(url)
    try:
        report = ledger.verify()
        assert report.ok and report.events == len(ids)
        assert all(ledger.get(pid) is not None for pid in ids)
    finally:
        ledger.close()


def test_events_queued_while_waiting_for_the_turn_are_one_group():
    held, groups = threading.Lock(), []
    held.acquire()

    class Turn:
        def __enter__(self):
            held.acquire()

        def __exit__(self, *exc):
            held.release()

    def commit(batch):
        groups.append(len(batch))
        for item in batch:
            item.stored = item.events

    writer = GroupWriter(commit, lambda: RuntimeError("closed"), turn=Turn)
    answers: list = []
    callers = [threading.Thread(target=lambda i=i: answers.append(writer.wait([i]))) for i in range(5)]
    for t in callers:
        t.start()
    while len(writer._queue) < 5:  # the writer is waiting for the turn: everything queues
        threading.Event().wait(0.001)
    held.release()
    for t in callers:
        t.join(10)
    writer.close()
    assert groups == [5] and sorted(a[0][0] for a in answers) == list(range(5))


def test_a_turns_file_open_to_others_is_not_used(tmp_path):
    path = tmp_path / "t.turns"
    path.write_text("7 " + "a" * 64 + "\n")
    os.chmod(path, 0o644)
    turns = WriterTurns(str(path))
    with turns.turn():
        assert turns.head() is None
    turns.set_head((8, "b" * 64))
    assert path.read_text() == "7 " + "a" * 64 + "\n"  # left as it was
    os.chmod(path, 0o600)
    turns = WriterTurns(str(path))
    assert turns.head() == (7, "a" * 64)
    turns.close()


@pytest.mark.parametrize("text", ["", "garbage", "12", "x " + "a" * 64, "\xff\xfe"])
def test_an_unreadable_head_in_the_turns_file_is_unknown(tmp_path, text):
    path = tmp_path / "t.turns"
    path.write_bytes(text.encode("latin-1"))
    os.chmod(path, 0o600)
    turns = WriterTurns(str(path))
    assert turns.head() is None
    turns.set_head((3, "c" * 64))
    assert turns.head() == (3, "c" * 64)
    turns.close()


def test_a_writer_waiting_for_a_connection_does_not_hold_up_the_others(url):
    # The writer takes its connection before its turn: one whose pool is exhausted (as with the
    # database slow to accept) waits, and fails, outside it while the other writer goes on.
    import time

    from hdtweedie.service import LedgerError
    from hdtweedie.service._postgres import PostgresLedger

    a, b = PostgresLedger(url, url, pool_size=1, timeout=1.5), open_ledger(url, "normal")
    taken = a._pool.getconn()
    refused: list = []
    try:
        stuck = threading.Thread(target=lambda: refused.append(pytest.raises(LedgerError, a.append,
                                                                              _events(1))))
        stuck.start()
        time.sleep(0.2)  # a's writer is waiting for the pool
        start = time.monotonic()
        b.append(_events(2))
        assert time.monotonic() - start < 0.8
        stuck.join(10)
        assert len(refused) == 1
        a._pool.putconn(taken)
        a.append(_events(1))
        report = b.verify()
        assert report.ok and report.events == 3
    finally:
        a.close()
        b.close()
