"""CV folds fit on X in place: the same paths as on copies of their rows, in bounded memory."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from hdtweedie import HDTweedie
from hdtweedie._cv import concurrent_solves
from hdtweedie._path import solve, solve_fold, standardization


def _problem(n=600, p=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 3, p) + rng.uniform(-2, 2, p)
    y = rng.gamma(1.0, np.exp(0.3 * X[:, 0] - 0.2 * X[:, 1])) * (rng.random(n) < 0.4)
    w = rng.uniform(0.2, 1.0, n)
    return X, y, w


@pytest.mark.parametrize("sparse", [False, True])
def test_standardization_on_training_rows_equals_a_copy(sparse):
    X, _, _ = _problem()
    X[X < 0.5] = 0.0
    rows = np.random.default_rng(1).random(X.shape[0]) < 0.7
    mean, scale = standardization(sp.csc_matrix(X) if sparse else X, None, rows)
    np.testing.assert_allclose(mean, X[rows].mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(scale, X[rows].std(axis=0), rtol=1e-13)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("standardize", [False, True])
def test_fold_in_place_equals_fold_on_copied_rows(sparse, standardize):
    """Zero weights on the held-out rows are the same problem as removing them, provided
    standardisation, lambda_max and the intercept start come from the training rows."""
    X, y, w = _problem()
    if sparse:
        X[np.abs(X) < 1.0] = 0.0
    data, opts = HDTweedie(n_lambdas=25, standardize=standardize, tol=1e-12)._check_inputs(
        sp.csc_matrix(X) if sparse else X, y, w, None)
    train = np.flatnonzero(np.arange(X.shape[0]) % 5 != 3)
    for o in (opts, opts.with_lambdas(solve(data, opts).lambdas)):
        in_place, why = solve_fold(data, o, train)
        assert why is None
        copied = solve(data.rows(train), o, warn=False)
        assert in_place.lambda_max == pytest.approx(copied.lambda_max, rel=1e-12)
        np.testing.assert_allclose(in_place.lambdas, copied.lambdas, rtol=1e-12)
        np.testing.assert_allclose(in_place.intercepts, copied.intercepts, rtol=0, atol=1e-9)
        np.testing.assert_allclose(in_place.coefs, copied.coefs, rtol=0, atol=1e-9)


def test_fold_leaves_the_callers_data_alone():
    X, y, w = _problem()
    data, opts = HDTweedie(n_lambdas=5)._check_inputs(X, y, w, None)
    before = data.w.copy()
    solve_fold(data, opts, np.arange(0, X.shape[0], 2))
    np.testing.assert_array_equal(data.w, before)
    assert data.fit_rows is None


def test_fold_rejects_rows_out_of_range():
    X, y, w = _problem(n=50)
    data, _ = HDTweedie()._check_inputs(X, y, w, None)
    with pytest.raises(ValueError, match=r"train: expected row positions in \[0, 50\)"):
        data.fold(np.array([3, 50]))
    with pytest.raises(ValueError, match="train"):
        data.fold(np.array([], dtype=int))


def test_concurrent_solves_keep_their_memory_within_x():
    rng = np.random.default_rng(0)
    small, _, _ = _problem(n=1_000)
    data, _ = HDTweedie()._check_inputs(small, rng.random(1_000), None, None)
    assert concurrent_solves(4, data, 100) == 4  # a small X: n_jobs as asked
    assert concurrent_solves(None, data, 100) == 1
    n, p = 400_000, 30
    tall = np.zeros((n, p), order="F")
    data, _ = HDTweedie()._check_inputs(tall[:, :1] + rng.random((n, 1)), rng.random(n), None, None)
    assert concurrent_solves(8, data, 100) == 1  # one column: one solve outweighs X
    data = data.__class__(**{**data.__dict__, "X": tall})
    assert 1 < concurrent_solves(8, data, 100) < 8
    # A log-likelihood fold holds more vectors of n: fewer of them at once.
    assert 1 <= concurrent_solves(8, data, 100, "loglik") < concurrent_solves(8, data, 100)


_PEAK = textwrap.dedent("""
    import gc, json, sys
    import numpy as np
    from hdtweedie import HDTweedieCV

    def kib(field):
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))

    n, p = 140_000, 60                       # X: 67 MB
    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.standard_normal((n, p)))
    y = rng.gamma(1.0, np.exp(0.2 * X[:, 0] - 0.1 * X[:, 1])) * (rng.random(n) < 0.3)
    w = rng.uniform(0.1, 1.0, n)
    # The dispersion of the selected model (power > 1) and the held-out log-likelihood
    # (loss="loglik") are computed on X in place as well.
    power, loss = float(sys.argv[1]), sys.argv[2] if sys.argv[2] != "None" else None
    kw = dict(power=power, loss=loss, n_lambdas=8, lambda_min_ratio=0.05, random_state=0)
    HDTweedieCV(**kw).fit(X[:3000], y[:3000], w[:3000])   # imports and first-call buffers
    out = {}
    for n_jobs in (1, 2, 6):
        gc.collect()
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")                    # VmHWM back to the resident set
        base = kib("VmRSS")
        cv = HDTweedieCV(n_jobs=n_jobs, **kw).fit(X, y, w)
        out[n_jobs] = dict(over_x=(kib("VmHWM") - base) * 1024 / X.nbytes,
                           cv_mean=cv.cv_mean_.tolist(), coef=cv.coef_.tolist())
        del cv
    print(json.dumps(out))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("power, loss", [(1.0, None), (1.5, None), (1.5, "loglik")])
def test_cv_peak_memory_is_bounded_by_x_for_any_n_jobs(power, loss):
    """The full path and five folds: each fold used to copy its training rows (3.3 x X at
    n_jobs=2), and at power 1.5 the dispersion of the selected model and the log-likelihood
    folds copied the rows of positive weight; results identical for any n_jobs."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _PEAK, str(power), str(loss)],
                          capture_output=True, text=True, env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for n_jobs, run in out.items():
        assert run["over_x"] <= 1.5, f"n_jobs={n_jobs}: peak {run['over_x']:.2f} x X"
        assert run["cv_mean"] == out["1"]["cv_mean"] and run["coef"] == out["1"]["coef"]
