"""Peak memory of a tall fit (1,000,000 x 20) relative to the size of X.

Each measurement runs ``_memory.py`` in a fresh process so that earlier
benchmarks cannot hide or inflate the peak.  X given Fortran-ordered float64
must not be copied at all; C-ordered X may be copied once.  Per-solve state is
O(n + p): a handful of length-n work vectors.  Any temporary the size of X
(an ``np.abs(X)`` in a validation step, say) counts as a copy here.
"""

import json
import os
import subprocess
import sys

import pytest
from report import MAX_EXTRA_OVER_X  # bounds on peak extra memory / X.nbytes

HERE = os.path.dirname(os.path.abspath(__file__))


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
        bound = MAX_EXTRA_OVER_X[layout]
        assert result["extra_over_x"] < bound, (
            f"{layout}-ordered X: peak extra memory {result['extra_over_x']:.2f} x X.nbytes "
            f"(numpy/Python allocations {result.get('tracemalloc_over_x', float('nan')):.2f} x), "
            f"bound {bound} x: X, or a temporary its size, is copied "
            f"{'at all' if layout == 'F' else 'more than once'}"
        )
