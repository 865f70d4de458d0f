"""Peak memory of one path fit on the tall problem, in a fresh process.

Usage::

    python benchmarks/_memory.py --solver hdtweedie --layout F

Prints one JSON object.  The peak is the resident-set high-water mark
(``VmHWM``), reset through ``/proc/self/clear_refs`` just before the fit, minus
the resident set at that moment (data, libraries and a small warm-up fit
already loaded).  For HDTweedie a second fit under ``tracemalloc`` gives the
peak of Python/numpy allocations alone.  Linux only.
"""

import argparse
import gc
import json
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _fits  # noqa: E402
import _problems as P  # noqa: E402
import numpy as np  # noqa: E402


def _status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak():
    # Writing 5 resets the high-water mark to the current resident set.
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def measure(solver, layout, n=None, trace=True):
    kwargs = {} if n is None else {"n": n}
    X, y, w = P.make_tall(**kwargs)
    if layout == "C":
        X = np.ascontiguousarray(X)
    gc.collect()

    if solver == "hdtweedie":
        def fit(X, y, w):
            return _fits.fit_hdtweedie(X, y, w)
    else:
        lambdas = P.default_lambdas(X, y, w)

        def fit(X, y, w):
            return _fits.glum_path(X, y, w, lambdas)

    # Load every lazily imported module before the baseline is taken.
    small = P.make_tall(n=2_000)
    fit(np.asarray(small[0], order=layout), small[1], small[2])
    del small
    gc.collect()

    _reset_peak()
    base = _status_kib("VmRSS")
    t0 = time.perf_counter()
    est = fit(X, y, w)
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    extra = max(peak - base, 0) * 1024
    out = {
        "solver": solver,
        "layout": layout,
        "shape": list(X.shape),
        "x_nbytes": int(X.nbytes),
        "peak_extra_bytes": int(extra),
        "extra_over_x": extra / X.nbytes,
        "extra_n_vectors": extra / (8 * X.shape[0]),
        "seconds": seconds,
    }
    if solver == "hdtweedie":
        out["passes"] = int(est.n_passes_)
    del est
    gc.collect()
    if trace and solver == "hdtweedie":
        import tracemalloc

        tracemalloc.start()
        fit(X, y, w)
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["tracemalloc_peak_bytes"] = int(traced)
        out["tracemalloc_over_x"] = traced / X.nbytes
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description="peak memory of one tall fit")
    parser.add_argument("--solver", choices=("hdtweedie", "glum"), default="hdtweedie")
    parser.add_argument("--layout", choices=("F", "C"), default="F")
    parser.add_argument("--n", type=int, default=None, help="rows (default 1,000,000)")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc fit")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.solver, args.layout, args.n, trace=not args.no_trace)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
