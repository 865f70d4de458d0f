"""Scoring a large portfolio from Parquet (CLI and Dask) and CV folds on Dask; run as a script.

    PYTHONPATH=src python3 benchmarks/bench_portfolio_scoring.py [--rows 10000000] [--part all]

``scoring``: rows/s of ``hdtweedie score`` (one process, streaming) and of
:func:`hdtweedie.distributed.score_dask` on a LocalCluster of two worker
processes, Parquet to Parquet, on a file of ``--rows`` policies simulated by
:func:`hdtweedie.datasets.make_motor_portfolio` (in a temporary folder,
deleted afterwards).  ``cv``: seconds of the motor problem's 5-fold CV
(100,000 rows) with ``n_jobs=2`` threads and with
``joblib.parallel_backend("dask")`` on two worker processes; the ratio is the
overhead of Dask.  Prints one JSON object with the machine's load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BLOCK = 500_000  # rows simulated (and written as one row group) at a time


def _cluster():
    import distributed

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    return cluster, distributed.Client(cluster)


def _model(folder: Path) -> Path:
    from hdtweedie import FactorEncoder, HDTweedieCV
    from hdtweedie.datasets import NOISE_FACTORS, RATING_FACTORS, make_motor_portfolio

    factors = list(RATING_FACTORS + NOISE_FACTORS)
    df = make_motor_portfolio(n=20_000, random_state=0)
    enc = FactorEncoder(factors=factors).fit(df[factors])
    cv = HDTweedieCV(groups=enc.groups_, n_folds=3, random_state=0).fit(
        enc.transform(df[factors]), df["incurred"], offset=np.log(df["exposure"]))
    path = folder / "motor.json"
    cv.export(path, encoder=enc, model_id="motor", version="1")
    return path


def _portfolio(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hdtweedie.datasets import make_motor_portfolio

    writer = None
    for seed, start in enumerate(range(0, rows, BLOCK)):
        df = make_motor_portfolio(n=min(BLOCK, rows - start), random_state=seed)
        df = df.drop(columns=["claim_count", "incurred", "pure_premium"])
        df["policy_id"] += start
        table = pa.Table.from_pandas(df, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def bench_scoring(rows: int) -> dict:
    """Rows/s of the CLI and of Dask, Parquet to Parquet."""
    import dask.dataframe as dd
    import pandas as pd

    from hdtweedie.distributed import score_dask

    with tempfile.TemporaryDirectory(prefix="hdtweedie-bench-") as tmp:
        folder = Path(tmp)
        model = _model(folder)
        data = folder / "portfolio.parquet"
        t = time.perf_counter()
        _portfolio(data, rows)
        made = time.perf_counter() - t
        out = folder / "cli.parquet"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hdtweedie", "score", str(model), str(data), "--out", str(out),
                        "--exposure", "exposure"], check=True, capture_output=True)
        cli = time.perf_counter() - t
        reference = pd.read_parquet(out, columns=["prediction"])["prediction"].to_numpy()
        out.unlink()
        cluster, client = _cluster()
        with cluster, client:
            t = time.perf_counter()
            scored = score_dask(dd.read_parquet(data, split_row_groups=True), model)
            scored.to_parquet(folder / "dask", write_index=False)
            on_dask = time.perf_counter() - t
        got = pd.read_parquet(folder / "dask", columns=["policy_id", "prediction"]).sort_values("policy_id")
        assert np.allclose(got["prediction"].to_numpy(), reference, rtol=1e-12, equal_nan=True)
    return {"rows": rows, "generate_s": round(made, 1), "cli_s": round(cli, 1),
            "cli_rows_per_s": round(rows / cli), "dask_2_workers_s": round(on_dask, 1),
            "dask_rows_per_s": round(rows / on_dask)}


def bench_cv(rounds: int = 2) -> dict:
    """Seconds of the motor 5-fold CV with two threads and on Dask with two worker processes."""
    import _problems as P
    import joblib

    from hdtweedie import HDTweedieCV

    X, y, w = P.make_problem("motor")
    folds = np.random.default_rng(0).permutation(X.shape[0]) % 5 + 1

    def fit(n_jobs=None):
        return HDTweedieCV(power=1.5, fold_ids=folds, n_jobs=n_jobs).fit(X, y, sample_weight=w)

    def best(run) -> tuple[float, object]:
        times, result = [], None
        for _ in range(rounds):
            t = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - t)
        return min(times), result

    threads, a = best(lambda: fit(n_jobs=2))
    cluster, client = _cluster()
    with cluster, client:
        with joblib.parallel_backend("dask"):
            fit()  # ship the data and warm the workers once
            dask_s, b = best(fit)
    assert np.array_equal(a.cv_mean_, b.cv_mean_)
    return {"rows": X.shape[0], "folds": 5, "threads_2_s": round(threads, 2),
            "dask_2_workers_s": round(dask_s, 2), "dask_over_threads": round(dask_s / threads, 2)}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts; print the results as JSON.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--part", choices=["all", "scoring", "cv"], default="all")
    args = parser.parse_args(argv)
    results: dict = {"load_before": os.getloadavg(), "cpus": os.cpu_count()}
    if args.part in ("all", "cv"):
        results["cv"] = bench_cv()
    if args.part in ("all", "scoring"):
        results["scoring"] = bench_scoring(args.rows)
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
