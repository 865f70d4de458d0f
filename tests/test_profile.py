"""Profile likelihood of the Tweedie power: R's tweedie_profile, recovery of the power, inputs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from hdtweedie import tweedie as tw
from hdtweedie._relax import refit_unpenalized
from hdtweedie.profile import PowerProfile, profile_power

matplotlib.use("Agg")

REFERENCE = Path(__file__).resolve().parents[1] / "validation" / "profile" / "reference.json"


def one_hot(*codes):
    """Treatment contrasts as R's model.matrix: level 1 of each factor is the base."""
    cols = [(c == k).astype(float) for c in codes for k in np.unique(c)[1:]]
    return np.column_stack(cols)


@pytest.fixture(scope="module")
def ref():
    r = json.loads(REFERENCE.read_text())
    d = r["data"]
    r["X"] = one_hot(*(np.asarray(d[f]) for f in ("f1", "f2", "f3")))
    r["y"], r["w"] = np.asarray(d["y"]), np.asarray(d["weights"])
    r["offset"] = np.log(np.asarray(d["exposure"]))
    return r


def test_unweighted_profile_matches_r(ref):
    want = ref["unweighted"]
    got = profile_power(ref["X"], ref["y"], want["p"], offset=ref["offset"], refine=False)
    np.testing.assert_array_equal(got.powers, want["p"])
    np.testing.assert_allclose(got.loglik, want["L"], rtol=1e-6)
    np.testing.assert_allclose(got.phi, want["phi"], rtol=1e-5)
    assert got.power == want["p_max"] and got.max_loglik == pytest.approx(want["L_max"], rel=1e-6)


def test_prior_weights_profile_matches_r_with_dispersion_phi_over_w(ref):
    want = ref["weighted_prior"]
    got = profile_power(ref["X"], ref["y"], want["p"], ref["w"], ref["offset"], refine=False)
    np.testing.assert_allclose(got.loglik, want["L"], rtol=1e-6)
    np.testing.assert_allclose(got.phi, want["phi"], rtol=1e-5)


def test_r_tweedie_profile_uses_weights_only_in_the_glm(ref):
    # tweedie_profile(weights = w): weighted means, but phi and L as if every weight were 1.
    want, X, y, w, off = ref["weighted"], ref["X"], ref["y"], ref["w"], ref["offset"]
    for p, L, phi in zip(want["p"], want["L"], want["phi"]):
        b0, b = refit_unpenalized(X, y, w, off, p, np.arange(X.shape[1]), 5.0, np.zeros(X.shape[1]))
        mu = np.exp(off + b0 + X @ b)
        ours = tw.dispersion_mle(y, mu, p)
        assert ours == pytest.approx(phi, rel=1e-5)
        assert np.sum(tw.logpdf(y, mu, ours, p)) == pytest.approx(L, rel=1e-6)


def test_loglik_and_dispersion_are_those_of_the_density_functions(ref):
    X, y, w, off = ref["X"], ref["y"], ref["w"], ref["offset"]
    got = profile_power(X, y, [1.3, 1.5, 1.7], w, off)
    assert got.refined and 1.3 < got.power < 1.7
    b0, b = refit_unpenalized(X, y, w, off, got.power, np.arange(X.shape[1]), 5.0, np.zeros(X.shape[1]))
    mu = np.exp(off + b0 + X @ b)
    assert got.dispersion == pytest.approx(tw.dispersion_mle(y, mu, got.power, w), rel=1e-9)
    assert got.max_loglik == pytest.approx(np.sum(tw.logpdf(y, mu, got.dispersion / w, got.power)),
                                           rel=1e-12)
    assert got.max_loglik >= got.loglik.max() - 1e-9


@pytest.mark.parametrize("p_true", [1.3, 1.7])
def test_simulated_power_is_inside_its_interval(p_true):
    rng = np.random.default_rng(int(p_true * 10))
    n = 4000
    f1, f2 = rng.integers(0, 4, n), rng.integers(0, 3, n)
    X = one_hot(f1, f2)
    exposure = rng.uniform(0.3, 1.0, n)
    mu = exposure * np.exp(3 + np.array([0, 0.2, -0.3, 0.4])[f1] + np.array([0, 0.5, -0.1])[f2])
    y = tw.rvs(mu, 15.0, p_true, random_state=rng)
    got = profile_power(X, y, np.round(np.arange(1.1, 1.95, 0.1), 2), offset=np.log(exposure))
    lo, hi = got.ci
    assert lo < p_true < hi and hi - lo < 0.2
    assert lo < got.power < hi
    assert got.dispersion == pytest.approx(15.0, rel=0.15)


def test_order_and_duplicates_of_the_grid_do_not_matter(ref):
    X, y, off = ref["X"], ref["y"], ref["offset"]
    a = profile_power(X, y, [1.6, 1.2, 1.4, 1.4], offset=off, refine=False)
    b = profile_power(X, y, np.array([1.2, 1.4, 1.6]), offset=off, refine=False)
    np.testing.assert_array_equal(a.powers, [1.2, 1.4, 1.6])
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-12)


def test_result_is_frozen_and_inputs_are_left_alone(ref):
    X, y, w, off = (ref[k].copy() for k in ("X", "y", "w", "offset"))
    grid = np.array([1.5, 1.3, 1.7])
    got = profile_power(X, y, grid, w, off)
    for name, arr in (("X", X), ("y", y), ("w", w), ("offset", off)):
        np.testing.assert_array_equal(arr, ref[name], err_msg=name)
    np.testing.assert_array_equal(grid, [1.5, 1.3, 1.7])
    assert isinstance(got, PowerProfile)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.power = 1.0
    with pytest.raises(ValueError):
        got.loglik[0] = 0.0


def test_best_power_at_the_end_of_the_grid_is_not_refined(ref):
    got = profile_power(ref["X"], ref["y"], [1.1, 1.2, 1.3], offset=ref["offset"])
    assert not got.refined and got.power == 1.3 and np.isnan(got.ci[1])


def test_plot_shows_profile_interval_and_maximum(ref):
    got = profile_power(ref["X"], ref["y"], ref["unweighted"]["p"], offset=ref["offset"])
    ax = got.plot()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("95% interval" in s for s in labels) and any(f"p = {got.power:.3f}" in s for s in labels)
    assert ax.get_xlim() == (1.2, 1.8)
    assert got.threshold == pytest.approx(got.max_loglik - 1.920729410347062, abs=1e-9)
    matplotlib.pyplot.close(ax.figure)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(powers=[1.5, 2.5]), ValueError, r"powers must be finite and in \(1, 2\].*got 2\.5"),
    (dict(powers=[1.0, 1.5]), ValueError, r"powers .* got 1\.0"),
    (dict(powers=[1.5, np.nan]), ValueError, r"powers .* got nan"),
    (dict(powers=[]), ValueError, r"powers must be a non-empty 1-d sequence"),
    (dict(powers=["a"]), TypeError, r"powers must be a sequence of numbers"),
    (dict(powers=[1.5, 2.0]), ValueError, r"y must be positive for power=2\.0"),
    (dict(refine="yes"), TypeError, r"refine must be True or False, got 'yes'"),
    (dict(conf_level=1.5), ValueError, r"conf_level must be a number in \(0, 1\), got 1\.5"),
    (dict(sample_weight=-np.ones(50)), ValueError, r"sample_weight must be non-negative"),
    (dict(offset=np.ones(3)), ValueError, r"offset has 3 values but X has 50 rows"),
    (dict(groups=[0, 1]), ValueError, r"groups"),
    (dict(y=np.zeros(50)), ValueError, r"y is zero in every row"),
    (dict(y=-np.ones(50)), ValueError, r"y must be non-negative"),
])
def test_bad_input_raises_naming_the_argument(kwargs, error, match):
    rng = np.random.default_rng(0)
    y = rng.gamma(1.0, 1.0, 50) * (rng.random(50) < 0.7)
    args = dict(X=rng.integers(0, 2, (50, 3)).astype(float), y=y, powers=[1.3, 1.5])
    args.update(kwargs)
    with pytest.raises(error, match=match):
        profile_power(**args)
