"""Model diagnostics on 1,000,000 rows: A/E for seven factors, lift, double lift and Gini.

``hdtweedie.diagnostics`` against the same tables built with plain pandas
(``groupby`` per factor, ``sort_values`` and ``cumsum`` for the lift bins and
the Lorenz curve), timed in the same run on the same data.  The goal is all of
``hdtweedie``'s tables in under 5 s.

Run with ``pytest benchmarks/bench_diagnostics.py --benchmark-only``, or
``python benchmarks/bench_diagnostics.py`` for a plain printout.
"""

import time
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from bench_scoring import LEVELS

N_ROWS = 1_000_000
POWER = 1.5
GOAL_SECONDS = 5.0
FACTORS = {**LEVELS, "fuel": ["petrol", "diesel", "electric"]}  # the scoring benchmark's, and fuel
NUMERIC = "vehicle_value"  # the seventh factor, banded into ten exposure bands


def portfolio(n, seed):
    """Six rating factors as strings, integers and booleans, one numeric, and two models' predictions."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({name: rng.choice(np.array(levels, dtype=object), n)
                       for name, levels in FACTORS.items()})
    df["ncd"] = df["ncd"].astype(np.int64)
    df["conviction"] = df["conviction"].astype(bool)
    df["area"] = df["area"].astype("category")
    df[NUMERIC] = rng.uniform(2.0, 60.0, n)
    df["exposure"] = rng.uniform(0.1, 1.0, n)
    rate = np.exp(-2.0 - 0.08 * df["ncd"] + 0.3 * df["conviction"] + 0.01 * df[NUMERIC])
    df["expected"] = df["exposure"] * rate * 1000.0
    df["benchmark"] = df["expected"] * np.exp(rng.normal(0.0, 0.2, n))
    df["actual"] = rng.poisson(df["exposure"] * rate) * rng.gamma(2.0, 500.0, n)
    return df


def with_hdtweedie(df):
    """Every table with hdtweedie.diagnostics."""
    from hdtweedie.diagnostics import actual_vs_expected, double_lift_table, gini, lift_table

    a, m, b, e = df["actual"], df["expected"], df["benchmark"], df["exposure"]
    ae = actual_vs_expected(df, [*FACTORS, NUMERIC], "actual", "expected", "exposure", power=POWER)
    return {"ae": ae, "lift": lift_table(a, m, e), "double_lift": double_lift_table(a, m, b, e),
            "gini": gini(a, m, e)}


def _pandas_bins(df, key):
    srt = df.assign(key=key).sort_values("key", kind="stable")
    cum = srt["exposure"].cumsum()
    srt["bin"] = np.minimum(((cum - srt["exposure"] / 2) / cum.iloc[-1] * 10).astype(int), 9) + 1
    return srt.groupby("bin")


def with_pandas(df):
    """The same tables with plain pandas groupby, sort_values and cumsum."""
    z = NormalDist().inv_cdf(0.975)
    v = df["exposure"] ** (1 - POWER) * df["expected"] ** POWER
    phi = ((df["actual"] - df["expected"]) ** 2 / v).mean()
    work = df.assign(var=phi * v, rows=1)
    ae = {}
    for col in [*FACTORS, NUMERIC]:
        key = pd.qcut(work[col], 10) if col == NUMERIC else work[col]
        t = work.groupby(key, observed=True)[["exposure", "rows", "actual", "expected", "var"]].sum()
        t["ae"] = t["actual"] / t["expected"]
        half = z * np.sqrt(t.pop("var")) / t["expected"]
        t["ae_lower"], t["ae_upper"] = (t["ae"] - half).clip(lower=0), t["ae"] + half
        ae[col] = t
    lift = _pandas_bins(work, df["expected"] / df["exposure"])[["exposure", "rows", "actual",
                                                                 "expected"]].sum()
    lift["ae"] = lift["actual"] / lift["expected"]
    double = _pandas_bins(work, df["expected"] / df["benchmark"])[
        ["exposure", "rows", "actual", "expected", "benchmark"]].sum()
    double["ae"], double["ae_benchmark"] = (double["actual"] / double["expected"],
                                            double["actual"] / double["benchmark"])
    srt = df.assign(rate=df["expected"] / df["exposure"]).sort_values("rate", kind="stable")
    x = np.r_[0, srt["exposure"].cumsum() / srt["exposure"].sum()]
    y = np.r_[0, srt["actual"].cumsum() / srt["actual"].sum()]
    return {"ae": ae, "lift": lift, "double_lift": double,
            "gini": 1 - np.sum(np.diff(x) * (y[1:] + y[:-1]))}


def check_same(ours, theirs):
    """The categorical A/E tables and the lift tables agree between the two builds."""
    for col in FACTORS:
        np.testing.assert_allclose(ours["ae"][col][["actual", "expected", "ae", "ae_upper"]],
                                   theirs["ae"][col][["actual", "expected", "ae", "ae_upper"]],
                                   rtol=1e-9)
    for name in ("lift", "double_lift"):
        np.testing.assert_allclose(ours[name][["actual", "expected", "ae"]],
                                   theirs[name][["actual", "expected", "ae"]], rtol=1e-9)
    assert abs(ours["gini"] - theirs["gini"]) < 1e-6  # ties merged or not: continuous predictions


def timed(fn, df, rounds=3):
    """Best of ``rounds`` wall-clock seconds, and the last result."""
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn(df)
        best = min(best, time.perf_counter() - start)
    return best, out


@pytest.fixture(scope="module")
def data():
    return portfolio(N_ROWS, seed=1)


def test_diagnostics(benchmark, data):
    ours = benchmark.pedantic(with_hdtweedie, args=(data,), rounds=3, iterations=1)
    seconds, theirs = timed(with_pandas, data)
    check_same(ours, theirs)
    benchmark.extra_info.update(rows=N_ROWS, pandas_seconds=seconds,
                                pandas_over_hdtweedie=seconds / benchmark.stats.stats.min)
    assert benchmark.stats.stats.min < GOAL_SECONDS


if __name__ == "__main__":
    df = portfolio(N_ROWS, seed=1)
    t_ours, ours = timed(with_hdtweedie, df)
    t_pandas, theirs = timed(with_pandas, df)
    check_same(ours, theirs)
    print(f"{N_ROWS:,} rows, A/E for {len(FACTORS) + 1} factors + lift + double lift + Gini "
          f"(best of 3):")
    print(f"  hdtweedie.diagnostics {t_ours:.3f} s (goal < {GOAL_SECONDS:.0f} s: "
          f"{'met' if t_ours < GOAL_SECONDS else 'not met'})")
    print(f"  plain pandas          {t_pandas:.3f} s  ({t_pandas / t_ours:.2f}x hdtweedie's time)")
