"""CV folds and portfolio scoring on a real Dask cluster (two local worker processes)."""

from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")
joblib = pytest.importorskip("joblib")

from hdtweedie import HDTweedieCV  # noqa: E402

from conftest import portfolio  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def _cv(n_jobs=None, progress=None):
    p = portfolio(n=500, seed=3)
    return HDTweedieCV(groups=p.groups, n_folds=4, n_lambdas=20, random_state=0, n_jobs=n_jobs).fit(
        p.X, p.y, offset=p.offset, progress=progress)


def test_cv_folds_on_dask_are_bit_identical(client):
    reference = _cv(n_jobs=1)
    calls = []
    with joblib.parallel_backend("dask"):
        on_dask = _cv(progress=lambda done, total: calls.append((done, total)))
    assert np.array_equal(on_dask.fold_losses_, reference.fold_losses_, equal_nan=True)
    assert np.array_equal(on_dask.coef_, reference.coef_)
    assert on_dask.lambda_ == reference.lambda_
    assert calls == [(i, 5) for i in range(1, 6)]  # reported in the caller, as with threads
    assert sum(client.run(lambda: 1).values()) == 2  # two worker processes took part


def test_dask_scores_as_predict_and_flags_as_the_cli(client, tmp_path):
    pd = pytest.importorskip("pandas")
    import dask.dataframe as dd
    from engine_support import cli_scored, flagged_portfolio
    from service_support import make_models

    from hdtweedie.distributed import score_dask
    from hdtweedie.scoring import load_model

    model = make_models(tmp_path)[0]
    df = flagged_portfolio()
    ddf = dd.from_pandas(df, npartitions=4)
    scored = score_dask(ddf, model)
    out = scored.compute()
    assert list(out.columns) == list(df.columns) + ["prediction", "prediction_warnings"]
    assert out.index.equals(df.index)
    expected = load_model(model).predict(df, exposure="exposure", errors="flag", warn=False)
    np.testing.assert_allclose(out["prediction"], np.asarray(expected), rtol=1e-12, equal_nan=True)
    cli = cli_scored(model, df, tmp_path)
    assert out["prediction_warnings"].tolist() == cli["prediction_warnings"].tolist()
    assert "unseen_level:area" in out.loc[3, "prediction_warnings"]
    assert out.loc[7, "prediction_warnings"] == "missing_value:driver_age"
    # Each worker process verified and loaded the model file once, whatever its number of partitions.
    loaded = client.run(lambda: len(__import__("hdtweedie.distributed").distributed._LOADED))
    assert set(loaded.values()) <= {0, 1} and sum(loaded.values()) >= 1
    only = score_dask(ddf, model, column="premium", keep=False).compute()
    assert list(only.columns) == ["premium", "premium_warnings"]
    assert isinstance(only, pd.DataFrame)
    with pytest.raises(ValueError, match="'years'"):
        score_dask(ddf, model, exposure="years")
    with pytest.raises(ValueError, match="'prediction'"):
        score_dask(scored, model)
