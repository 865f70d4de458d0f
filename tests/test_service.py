"""The pricing service over HTTP, against SQLite and PostgreSQL ledgers (a real server per backend)."""

from __future__ import annotations

import json
import math
import uuid

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from service_support import RISK, PostgresCluster, Server, make_models  # noqa: E402

from hdtweedie.scoring import load_model  # noqa: E402
from hdtweedie.service import open_ledger  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def postgres():
    cluster = PostgresCluster()
    yield cluster
    cluster.remove()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, models, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"service-{request.param}")
    url = (f"sqlite:///{folder / 'ledger.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres").url)
    server = Server([*models, "--ledger", url], folder)
    server.ledger_url = url
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(service):
    with service.client() as c:
        yield c


def _count(service) -> int:
    ledger = open_ledger(service.ledger_url)
    try:
        return ledger.verify().events
    finally:
        ledger.close()


def _predict(client, **body):
    body.setdefault("record", RISK)
    body.setdefault("policy_id", "P-1")
    r = client.post("/predict", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_predict_returns_the_scorers_price_and_logs_it(client, models, service):
    before = _count(service)
    out = _predict(client, exposure=0.5, transaction_type="quote", caller_id="web")
    model = load_model(models[0])
    assert out["prediction"] == float(model.predict(RISK, exposure=0.5)[0])
    assert uuid.UUID(out["prediction_id"]).version == 4
    assert (out["model_id"], out["model_version"], out["model_hash"]) == ("motor", "1", model.sha256)
    assert out["exposure"] == 0.5 and out["sandbox"] is False and out["duration_ms"] > 0
    assert _count(service) == before + 1


def test_batch_of_records_gives_one_logged_result_each(client, models, service):
    before = _count(service)
    items = [{"record": dict(RISK, area=a), "exposure": e} for a, e in (("A", 1.0), ("B", 0.25), ("E", 2.0))]
    items[1]["policy_id"] = "P-other"
    r = client.post("/predict", json={"policy_id": "P-batch", "records": items, "model": "motor@2"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    model = load_model(models[1])
    assert [x["prediction"] for x in results] == [
        float(model.predict(it["record"], exposure=it["exposure"])[0]) for it in items]
    assert [x["policy_id"] for x in results] == ["P-batch", "P-other", "P-batch"]
    assert {x["model_version"] for x in results} == {"2"}
    assert len({x["prediction_id"] for x in results}) == 3
    assert _count(service) == before + 3


def test_explain_recomputes_the_logged_prediction(client, models):
    out = _predict(client, exposure=0.75)
    r = client.get(f"/explain/{out['prediction_id']}")
    assert r.status_code == 200, r.text
    ex = r.json()
    direct = load_model(models[0]).explain(RISK, exposure=0.75).to_dict()
    assert ex["verified"] is True and ex["prediction"] == out["prediction"] == direct["prediction"]
    assert ex["contributions"] == direct["contributions"] and ex["base"] == direct["base"]["value"]
    product = ex["base"] * math.prod(c["relativity"] for c in ex["contributions"])
    assert math.isclose(product, ex["prediction"], rel_tol=1e-12)


def test_compare_attributes_input_and_model_changes_exactly(client, models):
    a = _predict(client, policy_id="P-cmp", transaction_type="quote", exposure=1.0)
    b = _predict(client, policy_id="P-cmp", transaction_type="bind", exposure=0.5, model="motor@2",
                 record=dict(RISK, ncd_years="3-4", area="A"))
    r = client.post("/compare", json={"prediction_a": a["prediction_id"], "prediction_b": b["prediction_id"]})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["model_changed"] is True
    assert c["output"]["was"] == a["prediction"] and c["output"]["now"] == b["prediction"]
    assert c["output"]["delta"] == b["prediction"] - a["prediction"]
    assert {d["input"] for d in c["input_diff"]} == {"area", "ncd_years", "exposure"}
    sources = {t["source"] for t in c["attribution"]}
    assert sources == {"input", "model"}
    assert math.fsum(t["money"] for t in c["attribution"]) == c["output"]["delta"]
    links = math.fsum(t["link"] for t in c["attribution"])
    assert math.isclose(links, c["output"]["log_ratio"], abs_tol=1e-12)
    direct = load_model(models[0]).compare(RISK, dict(RISK, ncd_years="3-4", area="A"),
                                           other=load_model(models[1]), exposure_a=1.0, exposure_b=0.5)
    assert [t["link"] for t in c["attribution"]] == [
        t["link"] for t in direct.input_attribution + direct.model_attribution]
    assert "quote" in c["note"] and "bind" in c["note"]


def test_compare_same_model_same_type_has_no_note(client):
    a = _predict(client, policy_id="P-cmp2", exposure=1.0)
    b = _predict(client, policy_id="P-cmp2", exposure=1.0, record=dict(RISK, conviction="No"))
    c = client.post("/compare", json={"prediction_a": a["prediction_id"],
                                      "prediction_b": b["prediction_id"]}).json()
    assert c["model_changed"] is False and c["note"] is None
    assert [t["input"] for t in c["attribution"]] == ["conviction"]
    assert c["attribution"][0]["money"] == c["output"]["delta"]


def test_history_filters_by_policy_type_and_is_newest_first(client):
    policy = f"P-hist-{uuid.uuid4()}"
    ids = [_predict(client, policy_id=policy, transaction_type=t)["prediction_id"]
           for t in ("quote", "quote", "bind")]
    _predict(client, policy_id=policy + "-x")
    h = client.get("/history", params={"policy_id": policy, "days": 1}).json()
    assert [e["prediction_id"] for e in h["events"]] == ids[::-1] and h["truncated"] is False
    h = client.get("/history", params={"policy_id": policy, "transaction_type": "bind"}).json()
    assert [e["prediction_id"] for e in h["events"]] == ids[2:]
    assert client.get("/history", params={"policy_id": policy, "days": 0}).status_code == 422


def test_models_health_metrics_openapi(client, models):
    m = client.get("/models").json()
    assert [(x["model_id"], x["version"], x["default"]) for x in m["models"]] == [
        ("motor", "1", True), ("motor", "2", False)]
    assert m["models"][0]["model_hash"] == load_model(models[0]).sha256 and m["default"] == "motor@1"
    h = client.get("/health")
    assert h.status_code == 200 and h.json()["ledger_writable"] is True and h.json()["models_loaded"] == 2
    _predict(client)
    text = client.get("/metrics").text
    assert 'hdtweedie_requests_total{endpoint="/predict",status="200"}' in text
    assert "hdtweedie_request_duration_seconds_bucket" in text
    assert "hdtweedie_ledger_write_failures_total 0" in text
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/explain/{prediction_id}", "/compare", "/history", "/models", "/health",
            "/metrics"} <= set(spec["paths"])
    assert "PredictRequest" in spec["components"]["schemas"]


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (json.dumps({"record": RISK}).encode(), 422, "policy_id"),
    (json.dumps({"policy_id": 7, "record": RISK}).encode(), 422, "policy_id"),
    (json.dumps({"policy_id": "P", "record": RISK, "transaction_type": "sale"}).encode(), 422,
     "transaction_type"),
    (json.dumps({"policy_id": "P", "record": RISK, "model": "motor@9"}).encode(), 422, "motor@9"),
    (json.dumps({"policy_id": "P", "record": RISK, "surprise": 1}).encode(), 422, "surprise"),
    (json.dumps({"policy_id": "P", "record": RISK, "records": [{"record": RISK}]}).encode(), 422,
     "exactly one"),
    (json.dumps({"policy_id": "P", "record": dict(RISK, area="Z")}).encode(), 422, "Z"),
    (json.dumps({"policy_id": "P", "record": RISK, "exposure": -1}).encode(), 422, "exposure"),
    (b'{"policy_id": "P", "record": {"area": "E"}, "exposure": NaN}', 422, "exposure"),
    (json.dumps({"policy_id": "P", "record": dict(RISK, pad="x" * (1 << 20))}).encode(), 413, "limit"),
])
def test_bad_requests_are_refused_clearly_and_not_logged(client, service, body, status, words):
    before = _count(service)
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert _count(service) == before


def test_unknown_and_malformed_prediction_ids(client):
    assert client.get(f"/explain/{uuid.uuid4()}").status_code == 404
    r = client.post("/compare", json={"prediction_a": "nope", "prediction_b": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["error"]
