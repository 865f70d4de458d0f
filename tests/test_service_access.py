"""API keys and the loopback rule of ``hdtweedie serve`` (a real server with a key file)."""

from __future__ import annotations

import json
import os
import stat

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from service_support import RISK, Server, cli, make_models  # noqa: E402


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    models = make_models(folder)
    keys = folder / "keys.json"
    made = {}
    for role in ("predict", "support"):
        r = cli("keys", "create", keys, "--role", role, "--name", f"{role}-app")
        assert r.returncode == 0, r.stderr
        made[role] = r.stdout.strip()
    server = Server([models[0], "--ledger", f"sqlite:///{folder / 'l.db'}", "--keys", keys], folder)
    yield server, made, keys
    server.stop()


def test_key_file_holds_only_hashes(keyed):
    _, made, keys = keyed
    text = keys.read_text()
    assert all(k not in text for k in made.values())
    entries = json.loads(text)["keys"]
    assert [(e["name"], e["role"]) for e in entries] == [("predict-app", "predict"),
                                                          ("support-app", "support")]
    assert stat.S_IMODE(os.stat(keys).st_mode) & 0o077 == 0
    r = cli("keys", "create", keys, "--role", "predict", "--name", "predict-app")
    assert r.returncode == 1 and "already exists" in r.stderr
    assert json.loads(keys.read_text())["keys"] == entries


def test_missing_and_unknown_keys_are_401(keyed):
    server, _, _ = keyed
    with server.client() as c:
        r = c.post("/predict", json={"policy_id": "P", "record": RISK})
        assert r.status_code == 401 and "missing API key" in r.json()["error"]
        assert c.get("/openapi.json").status_code == 401
        assert c.get("/health").status_code == 200
    with server.client("hdt_not-a-key") as c:
        assert c.get("/models").status_code == 401


def test_roles_decide_the_endpoints(keyed):
    server, made, _ = keyed
    with server.client(made["predict"]) as p, server.client(made["support"]) as s:
        out = p.post("/predict", json={"policy_id": "P-keys", "record": RISK})
        assert out.status_code == 200
        pid = out.json()["prediction_id"]
        for path in (f"/explain/{pid}", "/models", "/history?policy_id=P-keys"):
            r = p.get(path)
            assert r.status_code == 403 and "support" in r.json()["error"]
            assert s.get(path).status_code == 200
        r = s.post("/predict", json={"policy_id": "P", "record": RISK})
        assert r.status_code == 403 and "predict" in r.json()["error"]
        assert p.get("/metrics").status_code == 200 and s.get("/metrics").status_code == 200
        h = s.get("/history?policy_id=P-keys").json()["events"]
        assert h[0]["prediction_id"] == pid


def test_without_keys_only_loopback_is_served(tmp_path):
    r = cli("serve", "nothing.json", "--ledger", f"sqlite:///{tmp_path / 'l.db'}", "--host", "0.0.0.0")
    assert r.returncode == 1
    assert "model file not found" in r.stderr
    models = make_models(tmp_path)
    r = cli("serve", models[0], "--ledger", f"sqlite:///{tmp_path / 'l.db'}", "--host", "0.0.0.0")
    assert r.returncode == 1 and "loopback" in r.stderr and "0.0.0.0" in r.stderr


@pytest.mark.parametrize("args, words", [
    (["--ledger", "mysql://x"], "ledger URL must be"),
    (["--ledger", "sqlite:///{tmp}"], "folder"),
    (["--ledger", "sqlite:///{tmp}/l.db", "--keys", "{tmp}/none.json"], "none.json"),
    (["--ledger", "sqlite:///{tmp}/l.db", "--workers", "0"], "--workers"),
    (["--ledger", "sqlite:///{tmp}/l.db", "--durability", "fast"], "--durability"),
])
def test_bad_serve_options_fail_in_one_line(tmp_path, args, words):
    models = make_models(tmp_path)
    r = cli("serve", models[0], *[a.format(tmp=tmp_path) for a in args])
    assert r.returncode in (1, 2) and words in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_sandbox_environment_must_be_0_or_1(tmp_path):
    models = make_models(tmp_path)
    r = cli("serve", models[0], "--ledger", f"sqlite:///{tmp_path / 'l.db'}", HDTWEEDIE_SANDBOX="yes")
    assert r.returncode == 1 and "HDTWEEDIE_SANDBOX" in r.stderr
