"""standardize=True on a dense Fortran X standardises on the fly: no copy of X.

Measured in a fresh process (tracemalloc for numpy's allocations, the resident-set
high-water mark VmHWM where Linux has it) on a 50 MB design.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import gc, json, sys, tracemalloc
    import numpy as np
    from hdtweedie import HDTweedie

    def status(field):
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith(field + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None

    def reset_peak():
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            return True
        except OSError:
            return False

    n, p = int(sys.argv[1]), int(sys.argv[2])
    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.normal(size=(n, p)) * 3.0 + 5.0)
    y = rng.gamma(1.0, np.exp(0.3 * X[:, 0] - 3.5)) * (rng.random(n) < 0.5)
    HDTweedie(n_lambdas=2, standardize=True).fit(X[:200], y[:200])  # warm-up
    out = {"nbytes": X.nbytes}
    for std in (False, True):
        gc.collect()
        hwm = reset_peak()
        rss0 = status("VmRSS")
        tracemalloc.start()
        HDTweedie(power=1.5, n_lambdas=4, standardize=std).fit(X, y)
        out[f"traced_{std}"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if hwm and rss0 is not None:
            out[f"hwm_{std}"] = status("VmHWM") - rss0
    print(json.dumps(out))
""")


def _measure(n, p):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n), str(p)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def memory():
    # 156,250 x 40 float64: 50 MB.
    return _measure(156_250, 40)


def test_standardize_costs_at_most_half_of_x(memory):
    x = memory["nbytes"]
    assert memory["traced_True"] <= 0.5 * x, memory
    # Standardising adds next to nothing to the plain fit.
    assert memory["traced_True"] <= memory["traced_False"] + 0.05 * x, memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_standardize_resident_peak(memory):
    if "hwm_True" not in memory:
        pytest.skip("/proc/self/clear_refs is not writable here")
    assert memory["hwm_True"] <= 0.5 * memory["nbytes"], memory
