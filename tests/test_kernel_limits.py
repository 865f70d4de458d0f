"""The kernel ends every path promptly and solves X and c X alike.

``max_iter`` binds in every loop (descent passes and IRLS steps), a descent that
stalls at rounding noise stops with the non-convergence status instead of
running to the default ``max_iter``, and columns far from unit scale are solved
after an exact power-of-two rescaling, so the path is the same for ``X`` and
``c X`` (coefficients divided by ``c``, lambdas multiplied by it).
"""

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import hdtweedie
from hdtweedie import HDTweedie, _cd
from hdtweedie._path import ConvergenceWarning

ROOT = Path(__file__).resolve().parents[1]


def motor_like(n=4000, seed=0):
    """Dummy-coded rating factors, exposure weights, compound Poisson-Gamma response."""
    rng = np.random.default_rng(seed)
    levels = (5, 4, 6, 3)
    cols, eta = [], np.full(n, np.log(0.1))
    for k in levels:
        codes = rng.integers(0, k, size=n)
        eta += rng.normal(scale=0.3, size=k)[codes]
        cols += [codes == j for j in range(1, k)]
    X = np.asfortranarray(np.column_stack(cols).astype(float))
    w = rng.uniform(0.05, 1.0, size=n)
    claims = rng.poisson(w * np.exp(eta))
    y = rng.gamma(2.0 * claims, 0.5) / w
    return X, y, w


def run_isolated(code, timeout=60):
    """Run code in a fresh interpreter (a hang fails the test instead of blocking it)."""
    # Import the package from where this process did (src/ in place, site-packages installed).
    package = str(Path(hdtweedie.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package, str(ROOT)]))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_unreachable_tol_ends_within_max_iter_with_a_convergence_warning():
    X, y, w = motor_like()
    with pytest.warns(ConvergenceWarning, match="max_iter=1000"):
        est = HDTweedie(tol=1e-35, max_iter=1000).fit(X, y, sample_weight=w)
    assert -10000 < est.status_ < 0
    assert est.n_passes_ <= 1001


def test_unreachable_tol_ends_promptly_under_the_default_max_iter():
    # The default max_iter is R's 3e8 passes: only stall detection ends this path.
    out = run_isolated(f"""
        import sys, warnings
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        from test_kernel_limits import motor_like
        from hdtweedie import HDTweedie
        X, y, w = motor_like()
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            est = HDTweedie(tol=1e-35).fit(X, y, sample_weight=w)
        print(est.status_, est.n_passes_, [type(x.message).__name__ for x in got])
    """)
    status, passes, names = out.split(maxsplit=2)
    assert -10000 < int(status) < 0
    assert int(passes) < 100_000
    assert "ConvergenceWarning" in names


def test_max_iter_binds_in_the_irls_loop():
    # Every IRLS step here converges its descent in one pass (tol far below the
    # noise), so only a check between IRLS steps can stop it.
    X, y, w = motor_like()
    res = _kernel(X, y, w, tol=1e-35, max_iter=50)
    assert res.status < 0
    assert res.n_passes <= 52
    assert not res.stalled


def test_stall_is_reported_ahead_of_max_iter():
    X, y, w = motor_like()
    res = _kernel(X, y, w, tol=1e-35, max_iter=300_000_000)
    assert res.status < 0 and res.stalled
    assert res.n_passes < 100_000


def _kernel(X, y, w, tol, max_iter, n_lambdas=100, power=1.5):
    p = X.shape[1]
    problem = _cd.Problem(y, w / w.sum(), np.zeros(X.shape[0]), power,
                          np.arange(p, dtype=np.int32), np.arange(p + 1, dtype=np.int32),
                          np.ones(p), 1.0)
    options = _cd.Options(n_lambdas, 1e-3, None, p + 1, p, tol, max_iter)
    return _cd.solve_path_dense(np.asfortranarray(X), problem, options)


def _fit(X, y, w, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return HDTweedie(power=1.5, **kwargs).fit(X, y, sample_weight=w)


@pytest.mark.parametrize("c", [1e20, 1e-13, 3e7, 2e-5])
@pytest.mark.parametrize("sparse", [False, True])
def test_far_scaled_columns_converge_like_the_unscaled_ones(c, sparse):
    X, y, w = motor_like()
    ref = _fit(X, y, w)
    Xc = sp.csc_matrix(X * c) if sparse else X * c
    est = _fit(Xc, y, w)
    assert est.status_ == 0
    assert est.n_passes_ < 2 * ref.n_passes_
    np.testing.assert_allclose(est.lambdas_, ref.lambdas_ * c, rtol=1e-9)
    # Same problem up to the tolerance of the stopping rule.
    np.testing.assert_allclose(est.coef_path_ * c, ref.coef_path_, atol=2e-3)
    np.testing.assert_allclose(est.intercept_path_, ref.intercept_path_, atol=2e-3)


@pytest.mark.parametrize("groups", [None, np.repeat(np.arange(4), [4, 3, 5, 2])])
def test_powers_of_two_outside_the_band_give_the_same_path_exactly(groups):
    # 2^40 and 2^70 are both rescaled to the same internal columns: bit for bit.
    # (Only the group lasso is equivariant: a ridge term lambda ||b||^2 is not.)
    X, y, w = motor_like()
    a = _fit(X * 2.0**40, y, w, groups=groups)
    b = _fit(X * 2.0**70, y, w, groups=groups)
    assert a.n_passes_ == b.n_passes_
    np.testing.assert_array_equal(a.coef_path_ * 2.0**40, b.coef_path_ * 2.0**70)
    # The first reported lambda is extrapolated in logs; the kernel's grid is exact.
    np.testing.assert_array_equal(a.lambdas_[1:] / 2.0**40, b.lambdas_[1:] / 2.0**70)
    np.testing.assert_array_equal(a.intercept_path_, b.intercept_path_)


def test_columns_in_the_band_keep_their_iterates():
    # Inside [2^-10, 2^10] nothing is rescaled: 4 X is solved as R solves it, which
    # is not the path of X scaled (the stopping rule is on the raw coefficients).
    X, y, w = motor_like()
    base = _fit(X, y, w)
    four = _fit(X * 4.0, y, w)
    assert four.status_ == 0
    assert four.n_passes_ != base.n_passes_ or not np.array_equal(
        four.coef_path_ * 4.0, base.coef_path_)


def test_mixed_scales_across_groups_are_each_rescaled():
    # Each group gets its own power of two: multiplying every column by another
    # 2^30 changes nothing but the scale of the coefficients.
    X, y, w = motor_like()
    scales = np.where(np.arange(X.shape[1]) % 2, 1e15, 1e-9)
    a = _fit(X * scales, y, w)
    b = _fit(X * scales * 2.0**30, y, w)
    assert a.status_ == 0 and np.count_nonzero(a.coef_) > 5
    assert a.n_passes_ == b.n_passes_
    np.testing.assert_array_equal(a.coef_path_, b.coef_path_ * 2.0**30)


def test_kernel_problem_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one length"):
        _cd.Problem(np.ones(3), np.ones(2), np.zeros(3), 1.5, np.arange(1, dtype=np.int32),
                    np.arange(2, dtype=np.int32), np.ones(1), 1.0)
    with pytest.raises(ValueError, match="ptr must have"):
        _cd.Problem(np.ones(3), np.ones(3), np.zeros(3), 1.5, np.arange(1, dtype=np.int32),
                    np.arange(3, dtype=np.int32), np.ones(1), 1.0)


def test_path_module_reads_the_kernel_constants():
    from hdtweedie import _path
    assert _cd.GRAM_MAX == 64 and _path.GRAM_MAX == _cd.GRAM_MAX
    assert _path.SPARSE_UNPACK_DENSITY == _cd.UNPACK_DENSITY == 0.02
    assert _cd.ETA_MAX == 700.0 and _cd.BIG == 9.9e30 and _cd.SMALL == 1e-16


@pytest.mark.parametrize("power", [1.2, 1.5, 1.8])
def test_slow_descent_is_not_mistaken_for_a_stall(power):
    # On tiny, ill-conditioned problems a tight tol takes long descents whose
    # changes rise and fall well above rounding noise: they must run to convergence.
    for seed in range(40):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(10, 7))
        y = rng.poisson(2.0, size=10) * rng.gamma(2.0, 1.5, size=10)
        w = rng.uniform(0.0, 1.5, size=10)
        y[0], w[0] = max(y[0], 1.0), 1.0
        res = _kernel(X, y, w, tol=1e-12, max_iter=5_000_000, n_lambdas=20, power=power)
        assert res.status == 0, (seed, res.n_passes)
