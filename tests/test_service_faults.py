"""Faults: SIGKILL under load, a read-only SQLite ledger, a stopped PostgreSQL server.

No price is ever given that is not in the ledger, and the chain stays intact.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from service_support import RISK, PostgresCluster, Server, cli, make_models  # noqa: E402

from hdtweedie.service import open_ledger  # noqa: E402

THREADS, REQUESTS = 4, 200


def _load(server: Server, received: list, failures: list, stop: threading.Event) -> None:
    with server.client() as c:
        for i in range(REQUESTS):
            if stop.is_set():
                return
            try:
                r = c.post("/predict", json={"policy_id": f"P-{i % 7}", "record": RISK, "exposure": 1.0})
            except httpx.HTTPError:
                failures.append("connection")
                return
            if r.status_code == 200:
                received.append(r.json()["prediction_id"])
            else:
                failures.append(r.status_code)


def _logged(url: str, ids: list) -> tuple:
    ledger = open_ledger(url)
    try:
        missing = [pid for pid in ids if ledger.get(pid) is None]
        return missing, ledger.verify()
    finally:
        ledger.close()


@pytest.mark.parametrize("durability", ["full", "normal"])  # normal: safe from a killed service too
def test_sigkill_under_load_loses_no_answered_prediction(tmp_path, durability):
    models = make_models(tmp_path)
    url = f"sqlite:///{tmp_path / 'l.db'}"
    server = Server([models[0], "--ledger", url, "--durability", durability], tmp_path)
    received: list = []
    failures: list = []
    stop = threading.Event()
    args = (server, received, failures, stop)
    threads = [threading.Thread(target=_load, args=args) for _ in range(THREADS)]
    try:
        for t in threads:
            t.start()
        end = time.monotonic() + 30
        while len(received) < 150 and time.monotonic() < end:
            time.sleep(0.01)
        server.kill()
        stop.set()
        for t in threads:
            t.join(30)
    finally:
        stop.set()
        server.stop()
    answered = list(received)
    assert len(answered) >= 150
    print(f"\nSIGKILL after {len(answered)} answered predictions; {len(failures)} client(s) cut off")
    server = Server([models[0], "--ledger", url], tmp_path)
    try:
        with server.client() as c:
            after = c.post("/predict", json={"policy_id": "P-after", "record": RISK})
            assert after.status_code == 200
    finally:
        server.stop()
    missing, report = _logged(url, answered + [after.json()["prediction_id"]])
    assert missing == []
    assert report.ok and report.events >= len(answered) + 1
    r = cli("ledger", "verify", url)
    assert r.returncode == 0, r.stderr
    print(f"ledger after restart: {report.events} events (>= {len(answered) + 1} answered), chain intact")


@contextlib.contextmanager
def _read_only(path):
    """Make the ledger (the database and its WAL files) read-only for the server.

    Root is exempt from file modes, not from ``chattr +i``.
    """
    files = [p for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
             if p.exists()]
    if os.geteuid() == 0:
        done = []
        try:
            for f in files:
                r = subprocess.run(["chattr", "+i", str(f)], capture_output=True, text=True)
                if r.returncode != 0:
                    pytest.skip(f"cannot make a file read-only as root here: {r.stderr.strip()}")
                done.append(f)
            yield
        finally:
            for f in done:
                subprocess.run(["chattr", "-i", str(f)], check=True)
    else:
        modes = {f: os.stat(f).st_mode for f in files}
        for f in files:
            os.chmod(f, 0o444)
        try:
            yield
        finally:
            for f, mode in modes.items():
                os.chmod(f, mode)


def _predict_status(c) -> tuple:
    r = c.post("/predict", json={"policy_id": "P-ro", "record": RISK})
    return r.status_code, r.json()


def test_read_only_sqlite_ledger_gives_503_and_recovers(tmp_path):
    models = make_models(tmp_path)
    db = tmp_path / "l.db"
    url = f"sqlite:///{db}"
    server = Server([models[0], "--ledger", url], tmp_path)
    try:
        with server.client() as c:
            assert _predict_status(c)[0] == 200
            with _read_only(db):
                answers = [_predict_status(c) for _ in range(20)]
                assert {s for s, _ in answers} == {503}
                assert all("prediction" not in body and "could not be logged" in body["error"]
                           for _, body in answers)
                health = c.get("/health")
                assert health.status_code == 503 and health.json()["ledger_writable"] is False
            assert _predict_status(c)[0] == 200
            assert c.get("/health").status_code == 200
            assert "hdtweedie_ledger_write_failures_total 20" in c.get("/metrics").text
    finally:
        server.stop()
    _, report = _logged(url, [])
    assert report.ok and report.events == 2


@pytest.mark.slow  # each refused write waits for the pool's timeout
def test_stopped_postgres_gives_503_and_recovers(tmp_path):
    models = make_models(tmp_path)
    cluster = PostgresCluster()
    server = None
    try:
        server = Server([models[0], "--ledger", cluster.url], tmp_path)
        with server.client() as c:
            assert _predict_status(c)[0] == 200
            cluster.stop()
            answers = [_predict_status(c) for _ in range(3)]
            assert {s for s, _ in answers} == {503} and all("prediction" not in b for _, b in answers)
            assert c.get("/health").status_code == 503
            cluster.start()
            end, status = time.monotonic() + 20, None
            while time.monotonic() < end and status != 200:
                status = _predict_status(c)[0]
            assert status == 200
        _, report = _logged(cluster.url, [])
        assert report.ok and report.events == 2
    finally:
        if server is not None:
            server.stop()
        cluster.remove()
