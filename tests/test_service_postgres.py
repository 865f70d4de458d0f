"""Two workers sharing one PostgreSQL ledger: SIGKILL under load loses no answered prediction."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from service_support import RISK, PostgresCluster, Server, cli, make_models  # noqa: E402

from hdtweedie.service import open_ledger  # noqa: E402


def _load(server: Server, received: list, stop: threading.Event) -> None:
    with server.client() as c:
        while not stop.is_set():
            try:
                r = c.post("/predict", json={"policy_id": "P-kill", "record": RISK, "exposure": 1.0})
            except httpx.HTTPError:
                return
            if r.status_code == 200:
                received.append(r.json()["prediction_id"])


def test_sigkill_of_two_workers_under_load_loses_no_answered_prediction(tmp_path):
    models = make_models(tmp_path)
    cluster = PostgresCluster()
    try:
        server = Server([models[0], "--ledger", cluster.url, "--workers", 2, "--durability", "normal"],
                        tmp_path)
        received: list = []
        stop = threading.Event()
        threads = [threading.Thread(target=_load, args=(server, received, stop)) for _ in range(6)]
        try:
            for t in threads:
                t.start()
            end = time.monotonic() + 30
            while len(received) < 200 and time.monotonic() < end:
                time.sleep(0.01)
            server.kill()  # possibly between a commit and the head it leaves for the other worker
        finally:
            stop.set()
            for t in threads:
                t.join(30)
            server.stop()
        answered = list(received)
        assert len(answered) >= 200
        server = Server([models[0], "--ledger", cluster.url], tmp_path)
        try:
            with server.client() as c:
                after = [c.post("/predict", json={"policy_id": "P-after", "record": RISK}) for _ in range(4)]
            assert [r.status_code for r in after] == [200] * 4
        finally:
            server.stop()
        ledger = open_ledger(cluster.url)
        try:
            ids = answered + [r.json()["prediction_id"] for r in after]
            assert [pid for pid in ids if ledger.get(pid) is None] == []
            report = ledger.verify()
            assert report.ok and report.events >= len(ids)
        finally:
            ledger.close()
        r = cli("ledger", "verify", cluster.url)
        assert r.returncode == 0, r.stderr
    finally:
        cluster.remove()
