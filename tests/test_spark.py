"""Portfolio scoring on Spark in local mode (a real JVM, two cores) against predict and the CLI."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (.ci/run installs default-jre-headless)", allow_module_level=True)

from engine_support import cli_scored, flagged_portfolio  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from service_support import make_models  # noqa: E402

from hdtweedie.distributed import score_spark  # noqa: E402
from hdtweedie.scoring import load_model  # noqa: E402

# pyspark's own notices about pandas 3, not about this package.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning:pyspark", "ignore:The copy keyword")


@pytest.fixture(scope="module")
def spark():
    session = (SparkSession.builder.master("local[2]").appName("hdtweedie-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("spark-model"))[0]


def test_spark_scores_as_predict_and_flags_as_the_cli(spark, model, tmp_path):
    df = flagged_portfolio()
    sdf = spark.createDataFrame(df).repartition(3)
    out = score_spark(sdf, model).toPandas().sort_values("policy_id").reset_index(drop=True)
    assert list(out.columns) == list(df.columns) + ["prediction", "prediction_warnings"]
    expected = load_model(model).predict(df, exposure="exposure", errors="flag", warn=False)
    np.testing.assert_allclose(out["prediction"], np.asarray(expected), rtol=1e-12, equal_nan=True)
    cli = cli_scored(model, df, tmp_path)
    assert out["prediction_warnings"].tolist() == cli["prediction_warnings"].tolist()
    assert "unseen_level:area" in out.loc[3, "prediction_warnings"]
    assert np.isnan(out.loc[7, "prediction"])
    assert out.loc[7, "prediction_warnings"] == "missing_value:driver_age"
    assert (out.drop(index=[3, 7])["prediction_warnings"] == "").all()


def test_spark_new_columns_only_and_bad_arguments(spark, model):
    df = flagged_portfolio(n=50)
    sdf = spark.createDataFrame(df)
    out = score_spark(sdf, str(model), column="premium", keep=False).toPandas()
    assert list(out.columns) == ["premium", "premium_warnings"] and len(out) == 50
    with pytest.raises(ValueError, match="'years'"):
        score_spark(sdf, model, exposure="years")
    with pytest.raises(ValueError, match="'area'"):
        score_spark(sdf.drop("area"), model)
    with pytest.raises(ValueError, match="'exposure'"):
        score_spark(sdf, model, column="exposure")
    with pytest.raises(TypeError, match="model"):
        score_spark(sdf, 3)
