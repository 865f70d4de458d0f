"""Speed-up of the threaded row loops: one default path with n_threads=1 and 2.

Usage::

    python benchmarks/bench_threads.py [--rounds 5] [--problems tall motor]

Wall-clock times of alternating 1- and 2-thread fits (so that a change in the
machine's load hits both alike), checked to give the same path bit for bit.
Prints, per problem, the median time of each and their ratio, with the load
average before and after: the ratio means something only on an idle machine.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _problems as P  # noqa: E402
import numpy as np  # noqa: E402

from hdtweedie import HDTweedie  # noqa: E402


def _fit(X, y, w, n_threads):
    start = time.perf_counter()
    model = HDTweedie(power=P.POWER, n_threads=n_threads).fit(X, y, sample_weight=w)
    return time.perf_counter() - start, model


def bench(name, rounds):
    """Median seconds with 1 and 2 threads over ``rounds`` alternating pairs.

    Parameters
    ----------
    name : str
        A problem of ``_problems.PROBLEMS``.
    rounds : int

    Returns
    -------
    dict
        ``t1``, ``t2`` (median seconds), ``ratio`` (t1 / t2), the load
        averages before and after, and the times of every round.
    """
    X, y, w = P.make_problem(name)
    _fit(X[:2000], y[:2000], w[:2000], 2)  # warm-up
    times = {1: [], 2: []}
    models = {}
    load0 = os.getloadavg()[0]
    for _ in range(rounds):
        for k in (1, 2):
            dt, models[k] = _fit(X, y, w, k)
            times[k].append(dt)
    a, b = models[1], models[2]
    if not (np.array_equal(a.coef_path_, b.coef_path_) and a.n_passes_ == b.n_passes_):
        raise AssertionError(f"{name}: the 1- and 2-thread paths differ")
    t1, t2 = statistics.median(times[1]), statistics.median(times[2])
    return {"t1": t1, "t2": t2, "ratio": t1 / t2, "load_before": load0,
            "load_after": os.getloadavg()[0], "times": times}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--problems", nargs="+", default=["tall", "motor"],
                        choices=P.PROBLEMS)
    args = parser.parse_args(argv)
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    for name in args.problems:
        r = bench(name, args.rounds)
        rounds = ", ".join(f"{x:.2f}/{z:.2f}" for x, z in zip(r["times"][1], r["times"][2]))
        print(f"{name}: 1 thread {r['t1']:.2f}s, 2 threads {r['t2']:.2f}s, ratio "
              f"{r['ratio']:.2f}x (load {r['load_before']:.2f} -> {r['load_after']:.2f}; "
              f"rounds 1/2: {rounds})", flush=True)


if __name__ == "__main__":
    main()
