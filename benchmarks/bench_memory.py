"""Peak memory of a tall fit (1,000,000 x 20) relative to the size of X.

Each measurement runs ``_memory.py`` in a fresh process so that earlier
benchmarks cannot hide or inflate the peak.  X given Fortran-ordered float64
must not be copied at all; C-ordered X may be copied once.  Per-solve state is
O(n + p): a handful of length-n work vectors.
"""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# Bounds on peak extra memory / X.nbytes: no copy of X (F), one copy (C).
MAX_EXTRA_OVER_X = {"F": 1.0, "C": 2.0}


def _run(solver, layout):
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "_memory.py"), "--solver", solver, "--layout", layout],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize(
    "solver, layout", [("hdtweedie", "F"), ("hdtweedie", "C"), ("glum", "F")]
)
def test_memory_tall(benchmark, solver, layout):
    if solver == "glum":
        pytest.importorskip("glum")
    result = benchmark.pedantic(_run, args=(solver, layout), rounds=1, iterations=1)
    benchmark.extra_info.update(
        problem="tall",
        kind="memory",
        solver=solver,
        variant=f"{layout}-ordered",
        **{
            ("fit_seconds" if k == "seconds" else k): v
            for k, v in result.items()
            if k not in ("solver", "layout")
        },
    )
    if solver == "hdtweedie":
        assert result["extra_over_x"] < MAX_EXTRA_OVER_X[layout], result
