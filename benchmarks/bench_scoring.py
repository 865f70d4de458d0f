"""Scoring throughput of an exported model: 1,000,000-row batches and single records.

The model is a motor pricing fit (five rating factors and one numeric input,
one group per factor) exported with its FactorEncoder and loaded with
``hdtweedie.scoring.load_model``.  Batches are scored from raw rating factors
(a DataFrame, and a dict of numpy columns) and from the encoded design matrix;
``rows_per_s`` is recorded in each benchmark's ``extra_info``.

Run with ``pytest benchmarks/bench_scoring.py --benchmark-only``, or
``python benchmarks/bench_scoring.py`` for a plain printout.
"""

import time
import warnings

import numpy as np
import pandas as pd
import pytest

N_ROWS = 1_000_000
LEVELS = {
    "area": list("ABCDEF"),
    "ncd": list(range(6)),
    "vehicle_group": [f"G{i:02d}" for i in range(20)],
    "age_band": ["17-21", "22-25", "26-35", "36-50", "51-65", "66+"],
    "conviction": [False, True],
}


def portfolio(n, seed):
    """Raw rating factors, a numeric input and exposure."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({name: rng.choice(np.array(levels, dtype=object), n)
                       for name, levels in LEVELS.items()})
    df["ncd"] = df["ncd"].astype(int)
    df["conviction"] = df["conviction"].astype(bool)
    df["vehicle_value"] = rng.uniform(2.0, 60.0, n)
    exposure = rng.uniform(0.1, 1.0, n)
    return df, exposure


def build_model(directory):
    """Fit, export and load the benchmark model; return (ScoringModel, encoder, estimator)."""
    from hdtweedie import FactorEncoder, HDTweedie
    from hdtweedie.scoring import load_model

    df, exposure = portfolio(20_000, seed=1)
    rng = np.random.default_rng(2)
    eta = (-2.0 + 0.1 * df["area"].map({k: i for i, k in enumerate(LEVELS["area"])})
           - 0.08 * df["ncd"] + 0.3 * df["conviction"] + 0.01 * df["vehicle_value"])
    y = rng.poisson(exposure * np.exp(eta)) * rng.gamma(2.0, 500.0, len(df))
    enc = FactorEncoder(factors=list(LEVELS))
    X = enc.fit_transform(df, sample_weight=exposure)
    est = HDTweedie(power=1.5, groups=enc.groups_, n_lambdas=20).fit(
        X, np.asarray(y, dtype=float), offset=np.log(exposure))
    path = f"{directory}/bench_model.json"
    est.export(path, model_id="bench", version="1", encoder=enc)
    return load_model(path), enc, est


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    model, enc, est = build_model(tmp_path_factory.mktemp("scoring"))
    df, exposure = portfolio(N_ROWS, seed=3)
    return {"model": model, "enc": enc, "est": est, "df": df, "exposure": exposure}


def _rows_per_s(benchmark, n):
    benchmark.extra_info["rows"] = n
    benchmark.extra_info["rows_per_s"] = n / benchmark.stats.stats.mean


def test_batch_dataframe(benchmark, setup):
    model, df, e = setup["model"], setup["df"], setup["exposure"]
    pred = benchmark.pedantic(model.predict, args=(df,), kwargs={"exposure": e, "warn": False},
                              rounds=3, iterations=1)
    _rows_per_s(benchmark, N_ROWS)
    # same numbers as the fitted estimator on a slice
    head = df.head(1000)
    expected = setup["est"].predict(setup["enc"].transform(head), offset=np.log(e[:1000]))
    np.testing.assert_allclose(pred.values[:1000], expected, rtol=1e-12)


def test_batch_numpy_columns(benchmark, setup):
    model, df, e = setup["model"], setup["df"], setup["exposure"]
    columns = {c: df[c].to_numpy() for c in df.columns}
    for c in ("area", "vehicle_group", "age_band"):
        columns[c] = columns[c].astype(str)  # fixed-width text columns, as read by numpy/arrow
    benchmark.pedantic(model.predict, args=(columns,), kwargs={"exposure": e, "warn": False},
                       rounds=3, iterations=1)
    _rows_per_s(benchmark, N_ROWS)


def test_batch_design_matrix(benchmark, setup):
    model, e = setup["model"], setup["exposure"]
    X = setup["enc"].transform(setup["df"])
    benchmark.pedantic(model.predict, args=(X,), kwargs={"exposure": e, "warn": False},
                       rounds=3, iterations=1)
    _rows_per_s(benchmark, N_ROWS)


def test_single_record_latency(benchmark, setup):
    model = setup["model"]
    record = setup["df"].iloc[0].to_dict()
    benchmark(model.predict, record, exposure=0.5, warn=False)
    benchmark.extra_info["latency_us"] = benchmark.stats.stats.mean * 1e6


def test_single_record_explain(benchmark, setup):
    model = setup["model"]
    record = setup["df"].iloc[0].to_dict()
    benchmark(model.explain, record, exposure=0.5)
    benchmark.extra_info["latency_us"] = benchmark.stats.stats.mean * 1e6


def main():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        model, enc, _ = build_model(tmp)
        df, e = portfolio(N_ROWS, seed=3)
        X = enc.transform(df)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for label, data in (("DataFrame of raw factors", df), ("design matrix", X)):
                best = min(_timed(model.predict, data, exposure=e) for _ in range(3))
                print(f"batch {N_ROWS:,} rows, {label}: {best:.3f} s = {N_ROWS / best:,.0f} rows/s")
            record = df.iloc[0].to_dict()
            reps = 2000
            t = _timed(lambda: [model.predict(record, exposure=0.5, warn=False) for _ in range(reps)])
            print(f"single record predict: {t / reps * 1e6:.0f} us")
            t = _timed(lambda: [model.explain(record, exposure=0.5) for _ in range(reps)])
            print(f"single record explain: {t / reps * 1e6:.0f} us")


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
