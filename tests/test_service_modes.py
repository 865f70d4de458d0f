"""Sandbox mode, shadow scoring and the JSON event log of ``hdtweedie serve``."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from service_support import RISK, Server, make_models  # noqa: E402

from hdtweedie.scoring import load_model  # noqa: E402
from hdtweedie.service import open_ledger  # noqa: E402


@pytest.fixture(scope="module")
def shadowed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shadow")
    v1, v2 = make_models(folder)
    url = f"sqlite:///{folder / 'l.db'}"
    server = Server([v1, "--ledger", url, "--shadow", v2, "--event-log", "-"], folder,
                    extra_env={"HDTWEEDIE_SANDBOX": "1"})
    yield server, url, (v1, v2)
    server.stop()


def test_sandbox_marks_every_event_and_shadow_logs_both(shadowed):
    server, url, (v1, v2) = shadowed
    with server.client() as c:
        out = c.post("/predict", json={"policy_id": "P-s", "record": RISK, "exposure": 0.5}).json()
        assert out["sandbox"] is True
        assert out["prediction"] == float(load_model(v1).predict(RISK, exposure=0.5)[0])
        assert out["model_version"] == "1"
        models = c.get("/models").json()
        assert models["sandbox"] is True and [m["shadow"] for m in models["models"]] == [False, True]
        history = c.get("/history", params={"policy_id": "P-s"}).json()["events"]
    ledger = open_ledger(url)
    try:
        events = list(ledger.events())
    finally:
        ledger.close()
    production, shadow = events[-2:]
    assert production["prediction_id"] == out["prediction_id"] and production["shadow"] is False
    assert shadow["shadow"] is True and shadow["shadow_of"] == out["prediction_id"]
    assert shadow["prediction"] == float(load_model(v2).predict(RISK, exposure=0.5)[0])
    assert all(e["sandbox"] for e in events)
    assert [e["shadow"] for e in history] == [True, False]
    with server.client() as c:  # the shadow's own prediction can be explained
        ex = c.get(f"/explain/{shadow['prediction_id']}").json()
        assert ex["model_version"] == "2" and ex["verified"] is True


def test_event_log_prints_each_committed_event(shadowed):
    server, url, _ = shadowed
    with server.client() as c:
        for i in range(3):
            assert c.post("/predict", json={"policy_id": f"P-log-{i}", "record": RISK}).status_code == 200
        c.post("/predict", json={"policy_id": "P-bad", "record": {"area": "Z"}})
    ledger = open_ledger(url)
    try:
        stored = list(ledger.events())
    finally:
        ledger.close()
    lines = [json.loads(x) for x in server.out_path.read_text().splitlines()]
    assert lines == stored
