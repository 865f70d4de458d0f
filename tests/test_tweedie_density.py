"""Tweedie distribution functions: R reference, high-precision sums, limits and identities."""

from __future__ import annotations

import math
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest

from hdtweedie import tweedie as tw
from hdtweedie._tweedie_special import gammainc, log_gamma

REFERENCE = Path(__file__).resolve().parents[1] / "validation" / "density" / "reference.csv"


def mp_logpdf(y, mu, phi, p, dps=30):
    """The Dunn-Smyth series (or its ends) summed in ``dps``-digit arithmetic, term by term."""
    with mp.workdps(dps):
        y, mu, phi, p = (mp.mpf(v) for v in (y, mu, phi, p))
        lam = mu ** (2 - p) / (phi * (2 - p))
        if y == 0:
            return float(-lam)
        alpha, tau = (2 - p) / (p - 1), phi * (p - 1) * mu ** (p - 1)

        def term(j):
            return (-lam + j * mp.log(lam) - mp.loggamma(j + 1) + (j * alpha - 1) * mp.log(y)
                    - y / tau - mp.loggamma(j * alpha) - j * alpha * mp.log(tau))

        j0 = max(1, int(mp.nint(y ** (2 - p) / (phi * (2 - p)))))
        terms = [term(j0)]
        top = terms[0]
        for step in (1, -1):  # walk out until the terms are 60 below the largest one
            j = j0 + step
            while j >= 1:
                t = term(j)
                terms.append(t)
                top = max(top, t)
                if t < top - 60:
                    break
                j += step
        return float(top + mp.log(mp.fsum(mp.exp(t - top) for t in terms)))


@pytest.fixture(scope="module")
def reference():
    return np.genfromtxt(REFERENCE, delimiter=",", names=True)


def test_reference_table_covers_the_grid(reference):
    assert reference.size > 3000
    assert {1.01, 1.99, 1.0, 2.0} <= set(np.round(reference["p"], 4))
    assert reference["y"].max() == 1e4 and (reference["y"] == 0).any()


def test_logpdf_matches_r_series(reference):
    got = tw.logpdf(reference["y"], reference["mu"], reference["phi"], reference["p"])
    want = reference["logpdf"]
    err = np.abs(got - want) / np.maximum(np.abs(want), 1.0)
    assert np.isfinite(got).all()
    assert err.max() < 1e-8, reference[np.argmax(err)]


def test_cdf_matches_r_series(reference):
    got = tw.cdf(reference["y"], reference["mu"], reference["phi"], reference["p"])
    np.testing.assert_allclose(got, reference["cdf"], rtol=0, atol=1e-11)


@pytest.mark.parametrize("point", [(1000.0, 1000.0, 0.01, 1.01), (100.0, 100.0, 0.01, 1.01)])
def test_where_r_is_off_the_high_precision_sum_agrees_with_us(reference, point):
    # R sums lgamma(j + 1) + lgamma(j alpha) of size 1e6 directly and loses about 1e-9 here.
    row = reference[(reference["y"] == point[0]) & (reference["mu"] == point[1])
                    & (reference["phi"] == point[2]) & (reference["p"] == point[3])]
    exact = mp_logpdf(*point)
    assert abs(float(tw.logpdf(*point)) - exact) < 1e-13 * max(1.0, abs(exact))
    assert abs(row["logpdf"][0] - exact) > 1e-9


@pytest.mark.parametrize("point", [
    (1e4, 1e3, 0.01, 1.01),   # ~1e6 terms from zero: the sum sits far out
    (1e4, 1.0, 0.01, 1.01),   # far upper tail
    (1e-3, 1e3, 0.01, 1.01),  # lower tail, tiny y
    (1e4, 1e3, 0.01, 1.99),
    (5.0, 2.0, 1e-3, 1.99),   # very small phi near the Gamma end
    (1e3, 10.0, 100.0, 1.5),
    (0.5, 1.0, 1.0, 1.001),
])
def test_logpdf_matches_high_precision_sum_at_extremes(point):
    exact = mp_logpdf(*point)
    got = float(tw.logpdf(*point))
    assert abs(got - exact) <= 1e-12 * max(1.0, abs(exact)), (got, exact)


def test_log_gamma_is_accurate_near_its_zeros_and_far_out():
    x = np.concatenate([np.geomspace(1e-300, 1e300, 300), np.linspace(0.5, 3.0, 301),
                        1 + np.geomspace(1e-12, 0.1, 20), 2 - np.geomspace(1e-12, 0.1, 20)])
    with mp.workdps(30):
        want = np.array([float(mp.loggamma(mp.mpf(v))) for v in x])
    np.testing.assert_allclose(log_gamma(x), want, rtol=1e-14, atol=0)


def test_incomplete_gamma_matches_mpmath():
    a, x = np.meshgrid([1e-3, 0.3, 1.0, 2.5, 30.0, 1e3, 1e5], [1e-4, 0.2, 1.0, 3.0, 40.0, 1e3, 1.01e5])
    a, x = a.ravel(), x.ravel()
    p, q = gammainc(a, x)
    with mp.workdps(30):
        wp = np.array([float(mp.gammainc(mp.mpf(u), 0, mp.mpf(v), regularized=True)) for u, v in zip(a, x)])
        wq = np.array([float(mp.gammainc(mp.mpf(u), mp.mpf(v), mp.inf, regularized=True))
                       for u, v in zip(a, x)])
    np.testing.assert_allclose(p, wp, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(q, wq, rtol=1e-12, atol=1e-300)


def test_power_one_is_the_poisson_on_its_lattice():
    mu, phi = 3.0, 0.5
    k = np.arange(12.0)
    want = np.array([math.log(math.exp(-6.0) * 6.0 ** j / math.factorial(int(j))) - math.log(phi) for j in k])
    np.testing.assert_allclose(tw.logpdf(phi * k, mu, phi, 1.0), want, rtol=1e-13)
    assert np.all(tw.logpdf(phi * k + 0.2, mu, phi, 1.0) == -np.inf)
    steps = tw.cdf(phi * k + 0.2, mu, phi, 1.0)
    np.testing.assert_allclose(steps, np.cumsum(np.exp(want + math.log(phi))), rtol=1e-13)


def test_power_two_is_the_gamma():
    y, mu, phi = np.array([0.1, 1.0, 7.0]), 2.0, 0.25  # shape 4, scale 0.5
    want = 3 * np.log(y) - y / 0.5 - math.lgamma(4.0) - 4 * math.log(0.5)
    np.testing.assert_allclose(tw.logpdf(y, mu, phi, 2.0), want, rtol=1e-14)
    assert tw.logpdf(0.0, mu, 2.0, 2.0) == np.inf and tw.logpdf(0.0, mu, 0.5, 2.0) == -np.inf


def test_limits_approach_poisson_and_gamma():
    mu, phi = 3.0, 0.5
    mid = phi * (np.arange(20) + 0.5)
    poisson = tw.cdf(mid, mu, phi, 1.0)
    errs = [np.abs(tw.cdf(mid, mu, phi, 1 + e) - poisson).max() for e in (1e-2, 1e-3, 1e-4)]
    assert errs[2] < 2e-5 and errs[0] > errs[1] > errs[2]
    y = np.geomspace(0.01, 20, 25)
    gamma = tw.logpdf(y, mu, phi, 2.0)
    errs = [np.abs(tw.logpdf(y, mu, phi, 2 - e) - gamma).max() for e in (1e-2, 1e-3, 1e-4)]
    assert errs[2] < 2e-3 and errs[0] > 5 * errs[1] > 25 * errs[2]


def _simpson(f, a, b, n=4000):
    s = np.linspace(a, b, n + 1)
    w = np.ones(n + 1)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return float(np.sum(w * f(s)) * (b - a) / (3 * n))


@pytest.mark.parametrize("p", [1.05, 1.3, 1.5, 1.8, 1.97])
def test_density_integrates_to_one_minus_the_mass_at_zero_and_to_the_cdf(p):
    mu, phi = 2.0, 1.5
    p0 = math.exp(float(tw.logpdf(0.0, mu, phi, p)))

    def integrand(s):  # y = exp(s): the singularity y^(alpha - 1) at 0 becomes exp(alpha s)
        return np.exp(tw.logpdf(np.exp(s), mu, phi, p) + s)

    near_zero = _simpson(integrand, -300.0, -6.0, 10000)  # smooth there: exp(alpha s) times a series
    assert abs(near_zero + _simpson(integrand, -6.0, math.log(400.0), 6000) - (1 - p0)) < 1e-9
    for y in (0.3, 2.0, 9.0):
        integral = near_zero + _simpson(integrand, -6.0, math.log(y), 4000)
        assert abs(p0 + integral - float(tw.cdf(y, mu, phi, p))) < 1e-9


@pytest.mark.parametrize("p", [1.0, 1.01, 1.5, 1.99, 2.0])
def test_cdf_is_monotone_from_the_mass_at_zero_to_one(p):
    y = np.concatenate([[0.0], np.geomspace(1e-6, 1e3, 400)])
    c = tw.cdf(y, 5.0, 0.8, p)
    assert np.all(np.diff(c) >= 0) and c[-1] == pytest.approx(1.0, abs=1e-12)
    lam = 5.0 ** (2 - p) / (0.8 * (2 - p)) if p < 2 else np.inf  # 5 / 0.8 at p = 1
    assert c[0] == pytest.approx(math.exp(-lam), rel=1e-14)


@pytest.mark.parametrize("p", [1.01, 1.4, 1.9, 2.0])
def test_ppf_inverts_cdf(p):
    mu, phi = 4.0, 1.2
    p0 = float(tw.cdf(0.0, mu, phi, p))
    q = np.linspace(0.0, 0.999, 30)
    y = tw.ppf(q, mu, phi, p)
    inside = q > p0
    assert np.all(y[~inside] == 0)
    np.testing.assert_allclose(tw.cdf(y[inside], mu, phi, p), q[inside], rtol=1e-11)
    ys = np.geomspace(1e-3, 30, 10)
    back = tw.ppf(tw.cdf(ys, mu, phi, p), mu, phi, p)
    if p > 1.2:
        np.testing.assert_allclose(back, ys, rtol=1e-8)
    else:  # near p = 1 the cdf is flat between narrow peaks: only its value comes back
        np.testing.assert_allclose(tw.cdf(back, mu, phi, p), tw.cdf(ys, mu, phi, p), rtol=1e-11)
    assert tw.ppf(1.0, mu, phi, p) == np.inf


def test_ppf_on_the_poisson_lattice():
    mu, phi = 3.0, 0.5
    q = np.linspace(0.01, 0.99, 40)
    y = tw.ppf(q, mu, phi, 1.0)
    np.testing.assert_allclose(y / phi, np.round(y / phi))
    assert np.all(tw.cdf(y, mu, phi, 1.0) >= q) and np.all(tw.cdf(y - phi, mu, phi, 1.0) < q)


@pytest.mark.parametrize("p", [1.0, 1.2, 1.5, 1.9, 2.0])
def test_rvs_moments(p):
    mu, phi, n = 3.0, 1.5, 200_000
    x = tw.rvs(mu, phi, p, size=n, random_state=7)
    var = phi * mu ** p
    assert abs(x.mean() - mu) < 5 * math.sqrt(var / n)
    assert abs(x.var() / var - 1) < 0.03
    if p < 2:
        assert abs((x == 0).mean() - float(tw.cdf(0.0, mu, phi, p))) < 5 * math.sqrt(0.25 / n)


def test_rvs_shapes_and_seeds():
    a = tw.rvs([1.0, 2.0, 3.0], 1.0, 1.5, size=(4, 3), random_state=1)
    b = tw.rvs([1.0, 2.0, 3.0], 1.0, 1.5, size=(4, 3), random_state=np.random.default_rng(1))
    assert a.shape == (4, 3) and np.array_equal(a, b)
    assert isinstance(tw.rvs(1.0, 1.0, 1.5, random_state=0), float)


def _simulated(p, n=1500, seed=3):
    rng = np.random.default_rng(seed)
    mu = np.exp(rng.normal(0.5, 0.6, n))
    w = rng.uniform(0.5, 2.0, n)
    return tw.rvs(mu, 1.7 / w, p, random_state=seed), mu, w


@pytest.mark.parametrize("p", [1.3, 1.6, 2.0])
def test_dispersion_mle_against_a_grid(p):
    y, mu, w = _simulated(p)
    phi = tw.dispersion_mle(y, mu, p, sample_weight=w)
    grid = np.geomspace(phi / 1.1, phi * 1.1, 61)
    nll = -np.sum(tw.logpdf(y, mu, grid[:, None] / w, p), axis=1)
    best = grid[np.argmin(nll)]
    assert abs(math.log(phi / best)) <= math.log(grid[1] / grid[0])
    assert -np.sum(tw.logpdf(y, mu, phi / w, p)) <= nll.min() + 1e-9
    assert 1.4 < phi < 2.1


def test_dispersion_mle_weights_are_prior_weights():
    y, mu, _ = _simulated(1.5, n=800)
    base = tw.dispersion_mle(y, mu, 1.5)
    scaled = tw.dispersion_mle(y, mu, 1.5, sample_weight=np.full(y.size, 4.0))
    assert scaled == pytest.approx(4 * base, rel=1e-7)
    w = np.ones(y.size)
    w[:100] = 0
    assert tw.dispersion_mle(y, mu, 1.5, sample_weight=w) == pytest.approx(
        tw.dispersion_mle(y[100:], mu[100:], 1.5), rel=1e-9)


@pytest.mark.parametrize("p, phi", [(1.05, 2.0), (1.5, 1.7), (1.95, 0.5), (1.5, 2e-5), (1.2, 1e-4)])
def test_dispersion_newton_derivatives_and_value_are_the_series(p, phi):
    # Small phi puts the series peak at j ~ 1e5..1e6: Loader's form instead of the lgamma table.
    from hdtweedie._tweedie_phi import PowerLikelihood

    rng = np.random.default_rng(3)
    mu, w = np.exp(rng.normal(0.5, 0.6, 60)), rng.uniform(0.5, 2.0, 60)
    y = tw.rvs(mu, phi / w, p, random_state=4)
    loglik = PowerLikelihood(y, mu, w, p)
    t, h = math.log(phi), 1e-3
    value, slope, curv = loglik(t)
    # At tiny phi the exponent part, of size sum(lambda) ~ 1e6 here, cancels to 1e3: 1e-10 is rounding.
    assert value == pytest.approx(np.sum(tw.logpdf(y, mu, phi / w, p)), rel=1e-10)
    up, down = loglik(t + h)[0], loglik(t - h)[0]
    scale = abs(curv) + abs(slope) + 1.0
    assert abs((up - down) / (2 * h) - slope) < 1e-5 * scale
    assert abs((up - 2 * value + down) / h ** 2 - curv) < 1e-3 * scale


@pytest.mark.parametrize("p, phi", [(1.2, 1e-3), (1.5, 3.0), (1.9, 0.8)])
def test_dispersion_mle_is_the_maximiser_of_the_summed_logpdf(p, phi):
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(5)
    mu = np.exp(rng.normal(1.0, 0.5, 150))
    y = tw.rvs(mu, phi, p, random_state=6)
    got = tw.dispersion_mle(y, mu, p)
    t = minimize_scalar(lambda t: -np.sum(tw.logpdf(y, mu, math.exp(t), p)),
                        bracket=(math.log(got) - 0.1, math.log(got) + 0.1), tol=1e-12).x
    assert got == pytest.approx(math.exp(t), rel=1e-6)


def test_dispersion_mle_rejects_an_infinite_response():
    with pytest.raises(ValueError, match=r"y must be finite, got inf"):
        tw.dispersion_mle([1.0, np.inf, 2.0], 1.0, 1.5)


def test_shapes_scalars_and_inputs_left_alone():
    y = np.array([[0.0], [1.0], [2.5]])
    mu = np.array([1.0, 2.0, 3.0, 4.0])
    keep = y.copy(), mu.copy()
    assert tw.logpdf(y, mu, 1.0, 1.5).shape == (3, 4)
    assert tw.cdf(y, mu, [1.0, 2.0, 1.0, 2.0], 1.5).shape == (3, 4)
    assert isinstance(tw.logpdf(1.0, 2.0, 1.0, 1.5), float)
    assert np.array_equal(y, keep[0]) and np.array_equal(mu, keep[1])
    assert tw.logpdf(np.inf, 1.0, 1.0, 1.5) == -np.inf and tw.cdf(np.inf, 1.0, 1.0, 1.5) == 1.0
    np.testing.assert_allclose(tw.logpdf([1.0, 2.0], 1.0, 1.0, [1.3, 1.3]),
                               [tw.logpdf(1.0, 1.0, 1.0, 1.3), tw.logpdf(2.0, 1.0, 1.0, 1.3)], rtol=1e-15)


@pytest.mark.parametrize("call, match", [
    (lambda: tw.logpdf(-1.0, 1.0, 1.0, 1.5), r"y must be >= 0, got -1\.0"),
    (lambda: tw.logpdf(np.nan, 1.0, 1.0, 1.5), r"y must be >= 0, got nan"),
    (lambda: tw.cdf(1.0, 0.0, 1.0, 1.5), r"mu must be finite and > 0, got 0\.0"),
    (lambda: tw.logpdf(1.0, 1.0, [1.0, -2.0], 1.5), r"phi must be finite and > 0, got -2\.0"),
    (lambda: tw.logpdf(1.0, 1.0, 1.0, 2.5), r"power must be in \[1, 2\], got 2\.5"),
    (lambda: tw.ppf(1.5, 1.0, 1.0, 1.5), r"q must be in \[0, 1\], got 1\.5"),
    (lambda: tw.logpdf([1.0, 2.0], [1.0, 2.0, 3.0], 1.0, 1.5), r"cannot be broadcast.*y \(2,\), mu \(3,\)"),
    (lambda: tw.rvs([1.0, 2.0], 1.0, 1.5, size=3), r"size must be .* got \(3,\)"),
    (lambda: tw.dispersion_mle([1.0, 2.0], 1.0, 1.0), r"power must be a single number in \(1, 2\]"),
    (lambda: tw.dispersion_mle([0.0, 0.0], 1.0, 1.5), r"y has no positive value"),
    (lambda: tw.dispersion_mle([0.0, 1.0], 1.0, 2.0), r"y must be > 0 at power = 2, got 0\.0"),
    (lambda: tw.dispersion_mle([1.0, 2.0], 1.0, 1.5, sample_weight=[1.0, -1.0]),
     r"sample_weight must be finite and >= 0, got -1\.0"),
    (lambda: tw.dispersion_mle([1.0, 2.0], 1.0, 1.5, sample_weight=[0.0, 0.0]), r"sample_weight must have"),
    (lambda: tw.dispersion_mle([1.0, 2.0], [1.0, 2.0], 2.0), r"no finite maximum-likelihood phi"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_numeric_input_raises_type_error():
    with pytest.raises(TypeError, match="mu must be numeric, got 'a'"):
        tw.logpdf(1.0, "a", 1.0, 1.5)
    with pytest.raises(TypeError, match="random_state must be"):
        tw.rvs(1.0, 1.0, 1.5, random_state="seed")


def test_newton_search_accepts_a_start_at_the_stationary_point():
    from hdtweedie._tweedie_phi import _newton

    def loglik(t):  # maximum at t = 1, where the slope is exactly 0
        return -(t - 1.0) ** 2, -2.0 * (t - 1.0), -2.0

    assert _newton(loglik, 1.0) == (1.0, 0.0)
    t, _ = _newton(loglik, 3.0)
    assert abs(t - 1.0) < 1e-9
