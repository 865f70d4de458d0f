"""The MLflow flavour against a real local tracking store and model registry (SQLite)."""

from __future__ import annotations

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")
pd = pytest.importorskip("pandas")
pytest.importorskip("sqlalchemy")

from hdtweedie import FactorEncoder, HDTweedieCV  # noqa: E402
from hdtweedie import mlflow as hdt_mlflow  # noqa: E402
from hdtweedie.datasets import RATING_FACTORS, make_motor_portfolio  # noqa: E402
from hdtweedie.scoring import ModelFileError, ScoringModel, load_model  # noqa: E402

FACTORS = list(RATING_FACTORS)


@pytest.fixture(scope="module")
def fitted():
    df = make_motor_portfolio(n=600, random_state=1)
    enc = FactorEncoder(factors=FACTORS).fit(df[FACTORS])
    X = enc.transform(df[FACTORS])
    fits = []
    for n_lambdas in (15, 30):  # two different models: two registry versions
        fits.append(HDTweedieCV(groups=enc.groups_, n_folds=3, n_lambdas=n_lambdas, random_state=0,
                                select="lambda_min").fit(X, df["incurred"], offset=np.log(df["exposure"])))
    return df, enc, fits


@pytest.fixture()
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.create_experiment("pricing", artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=exp)
    yield tmp_path
    mlflow.set_tracking_uri(None)


def _log(est, enc, version, name="motor"):
    with mlflow.start_run() as run:
        info = hdt_mlflow.log_model(est, "model", registered_model_name=name, encoder=enc,
                                    model_id="motor", version=version)
    return run, info


def test_registry_alias_is_a_kill_switch(store, fitted):
    df, enc, (m1, m2) = fitted
    records = df.head(50)
    _log(m1, enc, "1")
    _, info2 = _log(m2, enc, "2")
    client = mlflow.MlflowClient()
    assert sorted(int(v.version) for v in client.search_model_versions("name='motor'")) == [1, 2]
    expected = {}
    for v in ("1", "2"):
        path = store / f"m{v}.json"
        (m1 if v == "1" else m2).export(path, encoder=enc, model_id="motor", version=v)
        expected[v] = np.asarray(load_model(path).predict(records[FACTORS], exposure=records["exposure"]))
    assert not np.allclose(expected["1"], expected["2"])

    for version, label in (("2", "2"), ("1", "1")):  # promote, then move the alias back
        client.set_registered_model_alias("motor", "champion", version)
        pyfunc = mlflow.pyfunc.load_model("models:/motor@champion")
        out = pyfunc.predict(records)
        assert list(out.columns) == ["prediction", "prediction_warnings"]
        np.testing.assert_allclose(out["prediction"], expected[label], rtol=1e-12)
        assert (out["prediction_warnings"] == "").all()
        model = hdt_mlflow.load_model("models:/motor@champion")
        assert isinstance(model, ScoringModel) and model.version == label
        np.testing.assert_allclose(model.predict(records[FACTORS], exposure=records["exposure"]),
                                   expected[label], rtol=1e-12)
        path = hdt_mlflow.model_file("models:/motor@champion", store / f"dl{label}")
        assert load_model(path).sha256 == model.sha256
    assert info2.signature is not None and "exposure" in info2.signature.inputs.input_names()


def test_logged_with_parameters_metrics_and_factor_table(store, fitted):
    df, enc, (m1, _) = fitted
    run, info = _log(m1, enc, "1", name="motor_b")
    data = mlflow.get_run(run.info.run_id).data
    assert data.params["n_folds"] == "3" and data.params["power"] == "1.5"
    assert data.metrics["lambda"] == pytest.approx(m1.lambda_)
    assert "cv_mean" in data.metrics
    files = [f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id, "hdtweedie")]
    assert files == ["hdtweedie/model-factor-table.csv"]
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=files[0],
                                                dst_path=str(store / "ft"))
    table = pd.read_csv(local)
    assert set(table["Factor"]) >= set(FACTORS)
    # The model is its JSON file, never a pickle of the estimator.
    model_dir = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(store / "md"))
    loaded = load_model(f"{model_dir}/artifacts/hdtweedie-model.json")
    assert loaded.intercept == pytest.approx(m1.intercept_, rel=1e-15)


def test_flags_rows_and_a_missing_exposure_column(store, fitted):
    df, enc, (m1, _) = fitted
    path = store / "m.json"
    m1.export(path, encoder=enc)
    with mlflow.start_run():
        info = hdt_mlflow.log_model(path, "model", exposure="years")
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    records = df.head(5)[FACTORS].assign(years=[1.0, 0.5, -1.0, 1.0, 1.0])
    records.loc[3, "area"] = "Z"
    out = pyfunc.predict(records)
    assert np.isnan(out["prediction"][2]) and out["prediction_warnings"][2] == "invalid_exposure:exposure"
    assert "unseen_level:area" in out["prediction_warnings"][3]
    with pytest.raises(Exception, match="years"):
        pyfunc.predict(df.head(5)[FACTORS])


def test_bad_arguments(store, fitted, tmp_path):
    _, enc, (m1, _) = fitted
    with mlflow.start_run():
        with pytest.raises(TypeError, match="model_or_file"):
            hdt_mlflow.log_model(object(), "model")
        with pytest.raises(ValueError, match="name"):
            hdt_mlflow.log_model(m1, "", encoder=enc)
        with pytest.raises(TypeError, match="encoder"):
            hdt_mlflow.log_model(tmp_path / "m.json", "model", encoder=enc)
        bad = tmp_path / "bad.json"
        m1.export(bad, encoder=enc)
        bad.write_text(bad.read_text().replace('"intercept": ', '"intercept": 1'))
        with pytest.raises(ModelFileError):
            hdt_mlflow.log_model(bad, "model")
    with pytest.raises(ValueError, match="model_uri"):
        hdt_mlflow.model_file(3)


@pytest.mark.slow
def test_serve_resolves_a_registry_alias(store, fitted):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from service_support import RISK, Server

    df, enc, (m1, _) = fitted
    _log(m1, enc, "1", name="motor_s")
    mlflow.MlflowClient().set_registered_model_alias("motor_s", "champion", "1")
    server = Server(["models:/motor_s@champion", "--ledger", f"sqlite:///{store / 'ledger.db'}"], store,
                    extra_env={"MLFLOW_TRACKING_URI": mlflow.get_tracking_uri()}, timeout=90)
    try:
        with server.client() as client:
            r = client.post("/predict", json={"record": RISK, "policy_id": "P-1", "exposure": 0.5})
    finally:
        server.stop()
    assert r.status_code == 200, r.text
    expected = hdt_mlflow.load_model("models:/motor_s@champion")
    assert r.json()["prediction"] == float(expected.predict(RISK, exposure=0.5)[0])
    assert r.json()["model_hash"] == expected.sha256
