"""The inner loops run at the instruction-set level the CPU supports, and every
level follows the same iterates."""

import platform
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from hdtweedie import HDTweedie, _cd

# The features of each x86-64 level that the kernel's copies use, as named in
# /proc/cpuinfo.
V3_FLAGS = {"avx2", "fma", "bmi1", "bmi2"}
V4_FLAGS = V3_FLAGS | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}


def cpu_flags():
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


@pytest.fixture
def restore_variant():
    before = _cd.simd_variant()
    yield
    _cd.set_simd_variant(before)


def test_best_variant_matches_the_cpu_flags():
    if _cd.simd_variants() == ["generic"] and platform.machine() in ("x86_64", "AMD64"):
        pytest.skip("built without per-level copies (HDTWEEDIE_PORTABLE=1)")
    flags = cpu_flags()
    if flags is None or platform.machine() not in ("x86_64", "AMD64"):
        assert _cd.simd_variants() in (["generic"], ["x86-64"])
        return
    expected = "x86-64-v4" if V4_FLAGS <= flags else "x86-64-v3" if V3_FLAGS <= flags else "x86-64"
    assert _cd.simd_variants()[-1] == expected
    assert _cd.simd_variants()[0] == "x86-64"


def test_the_best_variant_is_chosen_at_import(restore_variant):
    import os
    if os.environ.get("HDTWEEDIE_SIMD"):
        pytest.skip("HDTWEEDIE_SIMD forces a variant in this run")
    assert _cd.simd_variant() == _cd.simd_variants()[-1]


def test_unavailable_variant_is_refused(restore_variant):
    with pytest.raises(ValueError, match="'sse9' is not available"):
        _cd.set_simd_variant("sse9")
    assert _cd.simd_variant() in _cd.simd_variants()


@pytest.mark.parametrize("sparse", [False, True])
def test_every_variant_follows_the_same_iterates(restore_variant, sparse):
    rng = np.random.default_rng(4)
    n, p = 1500, 30
    X = rng.normal(size=(n, p))
    X[rng.random((n, p)) > 0.3] = 0.0
    y = rng.poisson(np.exp(0.3 + X[:, :4] @ np.array([0.4, -0.3, 0.2, 0.1]))) * 1.3
    w = rng.uniform(0.5, 2.0, size=n)
    Xf = sp.csc_matrix(X) if sparse else X
    fits = {}
    for name in _cd.simd_variants():
        _cd.set_simd_variant(name)
        fits[name] = HDTweedie(n_lambdas=40, standardize=True).fit(Xf, y, sample_weight=w)
    ref = fits[_cd.simd_variants()[0]]
    for name, est in fits.items():
        assert est.n_passes_ == ref.n_passes_, name
        np.testing.assert_allclose(est.coef_path_, ref.coef_path_, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(est.intercept_path_, ref.intercept_path_, rtol=1e-12)
