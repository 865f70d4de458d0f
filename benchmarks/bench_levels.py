"""Fit time of one rating factor with many levels, grouped (``groups="factor"``).

Usage::

    python benchmarks/bench_levels.py [--levels 200 1000 2000] [--rows 50000] [--n-lambdas 20]

One factor of L levels (L - 1 one-hot columns in one group, sparse CSC as
``FactorEncoder(sparse_output=True)`` gives it) on a fixed number of rows.
Prints one JSON line per L: the encoding and group set-up time, the fit time,
passes and the fit time per level.  A fit whose time per level stays flat as L
grows is linear in the size of the factor.
"""

import argparse
import json
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def problem(levels: int, rows: int, seed: int = 0):
    """``(table, y)``: one factor ``f`` of ``levels`` levels, a Tweedie-like response."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, levels, rows)
    effect = rng.normal(0.0, 0.3, levels)
    table = pd.DataFrame({"f": pd.Categorical([f"l{c}" for c in codes])})
    y = rng.gamma(1.0, np.exp(effect[codes])) * (rng.random(rows) < 0.3)
    return table, y


def measure(levels: int, rows: int, n_lambdas: int, dense: bool = False) -> dict:
    """Set-up and fit times of one factor of ``levels`` levels."""
    from hdtweedie import FactorEncoder, HDTweedie
    from hdtweedie._groups import make_groups

    table, y = problem(levels, rows)
    t0 = time.perf_counter()
    enc = FactorEncoder(sparse_output=not dense).fit(table)
    X = enc.transform(table)
    make_groups(enc.groups_, X.shape[1])
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    est = HDTweedie(groups=enc.groups_, n_lambdas=n_lambdas).fit(X, y)
    fit = time.perf_counter() - t0
    return {"levels": levels, "rows": rows, "columns": int(X.shape[1]), "n_lambdas": n_lambdas,
            "layout": "dense" if dense else "csc",
            "setup_seconds": setup, "fit_seconds": fit, "passes": int(est.n_passes_),
            "fit_ms_per_level": 1000 * fit / levels}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="fit time of one factor with many levels")
    parser.add_argument("--levels", type=int, nargs="+", default=[200, 1000, 2000])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--n-lambdas", type=int, default=20)
    parser.add_argument("--dense", action="store_true", help="dense X instead of CSC")
    args = parser.parse_args(argv)
    for levels in args.levels:
        print(json.dumps(measure(levels, args.rows, args.n_lambdas, args.dense)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
