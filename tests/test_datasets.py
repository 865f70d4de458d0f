"""The synthetic motor portfolio: structure, reproducibility and its true effects."""

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from hdtweedie.datasets import (  # noqa: E402
    NOISE_FACTORS,
    RATING_FACTORS,
    make_motor_portfolio,
    true_relativities,
)

FACTORS = list(RATING_FACTORS) + list(NOISE_FACTORS)


@pytest.fixture(scope="module")
def portfolio():
    return make_motor_portfolio(n=60_000, random_state=3)


def _expected_loss(df):
    """Exposure x base pure premium x product of the true relativities."""
    truth = df.attrs["true_relativities"]
    rel = np.ones(len(df))
    for factor in FACTORS:
        rel *= df[factor].map(truth[factor]).to_numpy(dtype=float)
    return df["exposure"].to_numpy() * df.attrs["base_pure_premium"] * rel


def test_columns_and_types(portfolio):
    df = portfolio
    assert list(df.columns) == (["policy_id"] + FACTORS
                                + ["exposure", "claim_count", "incurred", "pure_premium"])
    assert len(df) == 60_000
    assert df["policy_id"].is_unique
    for factor in FACTORS:
        assert df[factor].map(type).eq(str).all(), factor
    assert df["claim_count"].dtype.kind == "i"
    exposure = df["exposure"].to_numpy()
    assert np.all((exposure > 0) & (exposure <= 1))
    assert 0.6 < exposure.mean() < 0.95


def test_compound_poisson_structure(portfolio):
    df = portfolio
    counts = df["claim_count"].to_numpy()
    incurred = df["incurred"].to_numpy()
    assert np.all(counts >= 0)
    # A loss exactly where there is a claim: no claim, no cost.
    np.testing.assert_array_equal(incurred > 0, counts > 0)
    np.testing.assert_allclose(df["pure_premium"], incurred / df["exposure"], rtol=1e-15)
    # Zero-inflated: a point mass at zero and a continuous positive part.
    assert 0.2 < np.mean(counts == 0) < 0.8


def test_same_seed_same_data_other_seed_other_data():
    a = make_motor_portfolio(n=2000, random_state=11)
    b = make_motor_portfolio(n=2000, random_state=11)
    c = make_motor_portfolio(n=2000, random_state=12)
    pd.testing.assert_frame_equal(a, b)
    assert not a["incurred"].equals(c["incurred"])
    gen = make_motor_portfolio(n=2000, random_state=np.random.default_rng(11))
    pd.testing.assert_frame_equal(a, gen)


def test_total_loss_matches_the_true_mean(portfolio):
    """Actual over expected (from the stated truth) is 1 overall and per level."""
    df = portfolio
    expected = _expected_loss(df)
    actual = df["incurred"].to_numpy()
    assert actual.sum() / expected.sum() == pytest.approx(1.0, abs=0.02)
    # Per level: the truth includes every factor's effect, so A/E is 1 for each
    # level whatever the mix of the other factors; a relativity applied wrongly
    # (or not at all) moves A/E for its level far from 1.
    for factor in FACTORS:
        ae = (pd.DataFrame({"level": df[factor], "a": actual, "e": expected})
              .groupby("level")[["a", "e"]].sum())
        ratio = ae["a"] / ae["e"]
        assert ratio.between(0.9, 1.1).all(), (factor, ratio.round(3).to_dict())


def test_one_way_effects_are_visible(portfolio):
    """The true factors move the loss cost; with relativities ignored they would not."""
    df = portfolio
    lc = df.groupby("driver_age")["incurred"].sum() / df.groupby("driver_age")["exposure"].sum()
    assert lc["17-24"] / lc["40-59"] == pytest.approx(1.9, rel=0.12)
    lc = df.groupby("conviction")["incurred"].sum() / df.groupby("conviction")["exposure"].sum()
    assert lc["Yes"] / lc["No"] == pytest.approx(1.35, rel=0.12)


def test_base_levels_are_the_most_exposed_levels(portfolio):
    df = portfolio
    truth = df.attrs["true_relativities"]
    for factor in RATING_FACTORS:
        most_exposed = df.groupby(factor)["exposure"].sum().idxmax()
        assert truth[factor][most_exposed] == 1.0, factor
        assert sum(r == 1.0 for r in truth[factor].values()) == 1, factor


def test_true_relativities_table_matches_attrs(portfolio):
    table = true_relativities()
    assert list(table.columns) == ["Factor", "Level", "Relativity"]
    nested = {f: dict(zip(g["Level"], g["Relativity"])) for f, g in table.groupby("Factor")}
    assert nested == portfolio.attrs["true_relativities"]
    assert set(table["Factor"]) == set(FACTORS)
    noise = table[table["Factor"].isin(NOISE_FACTORS)]
    assert (noise["Relativity"] == 1.0).all()
    for factor in RATING_FACTORS:
        # Every non-base level of a true factor differs from the base by more than 10%.
        rels = table.loc[table["Factor"] == factor, "Relativity"]
        assert ((rels == 1.0) | ((rels - 1.0).abs() > 0.10)).all(), factor
    only_true = true_relativities(include_noise=False)
    assert set(only_true["Factor"]) == set(RATING_FACTORS)
    # Every level in the data is in the table, and the other way round.
    for factor in FACTORS:
        assert set(portfolio[factor]) == set(nested[factor])


def test_attrs_describe_the_truth(portfolio):
    attrs = portfolio.attrs
    assert attrs["rating_factors"] == list(RATING_FACTORS)
    assert attrs["noise_factors"] == list(NOISE_FACTORS)
    assert attrs["base_pure_premium"] == pytest.approx(1.0 * 1500.0)


def test_frequency_and_severity_options():
    """Half of each log relativity acts on frequency, half on severity."""
    df = make_motor_portfolio(n=40_000, random_state=5, frequency=0.2, severity=2000.0,
                              severity_shape=4.0)
    assert df.attrs["base_pure_premium"] == pytest.approx(400.0)
    half = np.sqrt(_expected_loss(df) / (df["exposure"].to_numpy() * 400.0))
    counts = df["claim_count"].to_numpy()
    expected_claims = (df["exposure"].to_numpy() * 0.2 * half).sum()
    assert counts.sum() / expected_claims == pytest.approx(1.0, abs=0.04)
    expected_cost = (counts * 2000.0 * half).sum()
    assert df["incurred"].sum() / expected_cost == pytest.approx(1.0, abs=0.04)
    # Claim costs of single-claim policies: Gamma with shape 4 has CV 0.5.
    one = counts == 1
    cost = df["incurred"].to_numpy()[one] / half[one]
    assert np.std(cost) / np.mean(cost) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n": 0}, ValueError, "n must be at least 1"),
        ({"n": 10.5}, TypeError, "n must be an integer"),
        ({"n": True}, TypeError, "n must be an integer"),
        ({"random_state": "seed"}, TypeError, "random_state"),
        ({"frequency": -1.0}, ValueError, "frequency"),
        ({"severity": float("nan")}, ValueError, "severity"),
        ({"severity_shape": "x"}, TypeError, "severity_shape"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_motor_portfolio(**{"n": 100, **kwargs})
