"""Diagnostics tables agree with direct pandas computations; Gini, lift and residuals keep definitions."""

import itertools
from statistics import NormalDist

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from hdtweedie.datasets import make_motor_portfolio  # noqa: E402
from hdtweedie.diagnostics import (  # noqa: E402
    actual_vs_expected,
    double_lift_table,
    gini,
    lift_table,
    lorenz_curve,
    normalized_gini,
    residuals,
)

POWER = 4 / 3  # compound Poisson with Gamma(shape 2) claims


def true_expected(df, drop=()):
    """Expected incurred per policy under the simulation's truth (without the factors in ``drop``)."""
    log_rel = np.zeros(len(df))
    for factor, rel in df.attrs["true_relativities"].items():
        if factor not in drop:
            log_rel += np.log(df[factor].map(rel).to_numpy(dtype=float))
    return df["exposure"].to_numpy() * df.attrs["base_pure_premium"] * np.exp(log_rel)


@pytest.fixture(scope="module")
def book():
    df = make_motor_portfolio(n=6000, random_state=3)
    rng = np.random.default_rng(4)
    df["expected"] = true_expected(df)
    df["benchmark"] = true_expected(df, drop=("driver_age", "vehicle_group"))
    df["vehicle_value"] = rng.uniform(2.0, 60.0, len(df))
    df["ncd_int"] = rng.integers(0, 6, len(df))
    return df


def pearson_phi(df, power):
    a, m, e = df["incurred"], df["expected"], df["exposure"]
    return float(np.mean((a - m) ** 2 / (e ** (1 - power) * m ** power)))


def groupby_ae(df, key, power, phi, level=0.95):
    """The A/E table written directly with pandas groupby."""
    work = df.assign(key=key, var=phi * df["exposure"] ** (1 - power) * df["expected"] ** power)
    g = work.groupby("key", observed=True, sort=True)
    out = pd.DataFrame({
        "exposure": g["exposure"].sum(), "rows": g.size(), "claims": g["claim_count"].sum(),
        "actual": g["incurred"].sum(), "expected": g["expected"].sum(),
    })
    out["ae"] = out["actual"] / out["expected"]
    half = NormalDist().inv_cdf(0.5 + level / 2) * np.sqrt(g["var"].sum()) / out["expected"]
    out["ae_lower"] = np.maximum(out["ae"] - half, 0)
    out["ae_upper"] = out["ae"] + half
    return out


def assert_same(table, direct):
    for col in direct.columns:
        np.testing.assert_allclose(table[col].to_numpy(dtype=float), direct[col].to_numpy(dtype=float),
                                   rtol=1e-10, err_msg=col)


# -- actual vs expected ---------------------------------------------------------------------------


def test_ae_equals_groupby_for_a_string_column(book):
    t = actual_vs_expected(book, "area", "incurred", "expected", "exposure", counts="claim_count",
                           power=POWER)
    direct = groupby_ae(book, book["area"], POWER, pearson_phi(book, POWER))
    assert list(t.index) == list(direct.index) == sorted(book["area"].unique())
    assert t.index.name == "area"
    assert_same(t, direct)
    np.testing.assert_allclose(t["actual_rate"], t["actual"] / t["exposure"])
    np.testing.assert_allclose(t["expected_rate"], t["expected"] / t["exposure"])
    assert t.attrs["phi"] == pytest.approx(pearson_phi(book, POWER))


def test_ae_list_gives_one_table_per_column_and_banded_numbers_match_groupby(book):
    tables = actual_vs_expected(book, ["vehicle_value", "ncd_int", "conviction"], "incurred",
                                "expected", "exposure", counts="claim_count", power=POWER, phi=2.5)
    assert list(tables) == ["vehicle_value", "ncd_int", "conviction"]
    banded = tables["vehicle_value"]
    assert isinstance(banded.index, pd.IntervalIndex) and len(banded) == 10
    key = pd.cut(book["vehicle_value"], banded.index, include_lowest=False)
    key = key.cat.codes.where(book["vehicle_value"] > banded.index[0].left, 0)  # minimum in band 1
    direct = groupby_ae(book, key, POWER, 2.5)
    assert_same(banded.reset_index(drop=True), direct.reset_index(drop=True))
    # bands of equal exposure, to within one policy
    assert np.all(np.abs(banded["exposure"] - book["exposure"].sum() / 10) <= book["exposure"].max())
    # few distinct numbers stay levels of their own
    assert list(tables["ncd_int"].index) == list(range(6))
    assert_same(tables["ncd_int"], groupby_ae(book, book["ncd_int"], POWER, 2.5))
    assert tables["conviction"].attrs["phi"] == 2.5


def test_ae_keeps_category_order_and_drops_empty_levels(book):
    order = ["E", "D", "C", "B", "A", "unused"]
    df = book.assign(area=pd.Categorical(book["area"], categories=order, ordered=True))
    t = actual_vs_expected(df, "area", "incurred", "expected", "exposure")
    assert list(t.index) == order[:5]
    assert t.index.ordered
    unordered = book.assign(area=pd.Categorical(book["area"], categories=order))
    t2 = actual_vs_expected(unordered, "area", "incurred", "expected", "exposure")
    assert list(t2.index) == order[:5]
    np.testing.assert_allclose(t["ae"], t2["ae"])


def test_ae_interval_covers_one_at_its_level_under_the_true_model():
    covered = []
    for seed in range(150):
        df = make_motor_portfolio(n=1500, random_state=seed)
        t = actual_vs_expected(df, "area", df["incurred"], true_expected(df), df["exposure"],
                               power=POWER, confidence_level=0.9)
        covered.extend((t["ae_lower"] <= 1) & (1 <= t["ae_upper"]))
    # 750 level checks: the binomial standard deviation of the rate is 0.011
    assert abs(np.mean(covered) - 0.9) < 0.04


def test_ae_accepts_arrays_and_does_not_change_the_data(book):
    before = book.copy()
    t = actual_vs_expected(book, "driver_age", book["incurred"].to_numpy(), book["expected"].to_numpy())
    pd.testing.assert_frame_equal(book, before)
    assert t["exposure"].sum() == len(book)  # no exposure: one per row
    assert t["rows"].sum() == len(book)


# -- lift -----------------------------------------------------------------------------------------


def test_lift_bins_have_equal_exposure_within_one_row(book):
    t = lift_table(book["incurred"], book["expected"], book["exposure"], n_bins=7)
    assert list(t.index) == list(range(1, 8))
    target = book["exposure"].sum() / 7
    assert np.all(np.abs(t["exposure"] - target) <= book["exposure"].max())
    assert np.all(np.diff(t["expected_rate"]) > 0)  # ordered by predicted rate
    assert t["actual"].sum() == pytest.approx(book["incurred"].sum())
    np.testing.assert_allclose(t["ae"], t["actual"] / t["expected"])


def test_lift_with_unit_exposure_equals_sorted_chunks(book):
    n = 6000
    t = lift_table(book["incurred"], book["expected"], n_bins=12)
    srt = book.assign(rate=book["expected"]).sort_values("rate", kind="stable")
    srt["bin"] = np.arange(n) // (n // 12) + 1
    g = srt.groupby("bin")
    assert np.all(t["rows"] == n // 12)
    np.testing.assert_allclose(t["actual"], g["incurred"].sum())
    np.testing.assert_allclose(t["expected"], g["expected"].sum())


def test_double_lift_orders_by_ratio_to_benchmark(book):
    t = double_lift_table(book["incurred"], book["expected"], book["benchmark"], book["exposure"])
    assert np.all(np.diff(t["ratio"]) > 0)
    assert np.all(np.abs(t["exposure"] - book["exposure"].sum() / 10) <= book["exposure"].max())
    np.testing.assert_allclose(t["ae_benchmark"], t["actual"] / t["benchmark"])
    np.testing.assert_allclose(t["benchmark_rate"], t["benchmark"] / t["exposure"])
    # the true model tracks actual better than the benchmark missing two factors
    assert np.abs(t["ae"] - 1).mean() < np.abs(t["ae_benchmark"] - 1).mean()


# -- Lorenz curve and Gini ------------------------------------------------------------------------


def gini_in_order(a, e, order):
    """1 - 2 * area under the Lorenz curve taking rows in the given order (no tie handling)."""
    x = np.concatenate(([0], np.cumsum(e[list(order)]))) / e.sum()
    y = np.concatenate(([0], np.cumsum(a[list(order)]))) / a.sum()
    return 1 - np.sum(np.diff(x) * (y[1:] + y[:-1]))


def test_gini_of_the_perfect_ranking_is_the_maximum_over_all_orderings():
    a = np.array([0.0, 3.0, 1.0, 7.0, 0.5, 2.0, 4.0])
    e = np.array([1.0, 0.5, 0.2, 1.0, 0.8, 0.3, 0.6])
    best = max(gini_in_order(a, e, p) for p in itertools.permutations(range(7)))
    perfect = e * (a / e + 1)  # ranks rows by their actual rate
    assert gini(a, perfect, e) == pytest.approx(best, abs=1e-14)
    assert normalized_gini(a, perfect, e) == pytest.approx(1.0)


def test_gini_averages_over_the_orderings_of_tied_predictions():
    a = np.array([2.0, 0.0, 5.0, 1.0, 0.0, 3.0])
    e = np.array([1.0, 0.5, 1.0, 0.25, 1.0, 0.75])
    rate = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 3.0])  # two tie groups
    groups = [[0, 1], [2, 3, 4], [5]]
    values = [gini_in_order(a, e, [i for part in parts for i in part])
              for parts in itertools.product(*(itertools.permutations(g) for g in groups))]
    assert gini(a, rate * e, e) == pytest.approx(np.mean(values), abs=1e-14)
    # the same for any row order in the input
    perm = np.array([4, 2, 5, 0, 3, 1])
    assert gini(a[perm], (rate * e)[perm], e[perm]) == pytest.approx(np.mean(values), abs=1e-14)


def test_gini_of_a_random_ranking_is_near_zero():
    n = 20_000
    rng = np.random.default_rng(11)
    a = rng.poisson(0.3, n) * rng.gamma(2.0, 500.0, n)
    g = gini(a, rng.uniform(0.5, 2.0, n))
    # Under a random order Gini = 1 + 1/n - 2 sum_j a_j (n + 1 - r_j) / (n S) with uniform ranks r:
    # mean 0 and variance 4 n (n + 1) SS_a / (12 n^2 S^2).
    sd = 2 / (n * a.sum()) * np.sqrt(np.sum((a - a.mean()) ** 2) * n * (n + 1) / 12)
    assert abs(g) < 4 * sd


def test_gini_is_invariant_to_scaling_and_changes_sign_when_reversed(book):
    a, m, e = book["incurred"], book["expected"], book["exposure"]
    g = gini(a, m, e)
    assert 0 < g < 1
    assert gini(a, 3.7 * m, e) == pytest.approx(g, abs=1e-12)
    assert gini(a, 1e-6 * m, e) == pytest.approx(g, abs=1e-12)
    assert gini(a, e * e / m, e) == pytest.approx(-g, abs=1e-12)  # the reciprocal rate
    assert 0 < normalized_gini(a, m, e) < 1


def test_gini_weights_by_exposure_splitting_a_row_changes_nothing():
    rng = np.random.default_rng(5)
    a, m, e = rng.gamma(1.0, 1.0, 50), rng.uniform(1, 2, 50), rng.uniform(0.2, 1, 50)
    split = np.r_[a, a[:10] / 2], np.r_[m, m[:10] / 2], np.r_[e, e[:10] / 2]
    split[0][:10] /= 2
    split[1][:10] /= 2
    split[2][:10] /= 2
    assert gini(*split) == pytest.approx(gini(a, m, e), abs=1e-14)


def test_lorenz_curve_runs_from_origin_to_one_with_one_point_per_distinct_rate():
    a = np.array([1.0, 0.0, 2.0, 3.0])
    m = np.array([1.0, 1.0, 2.0, 4.0])
    curve = lorenz_curve(a, m)
    assert list(curve.columns) == ["exposure_share", "actual_share"]
    np.testing.assert_allclose(curve["exposure_share"], [0, 0.5, 0.75, 1])
    np.testing.assert_allclose(curve["actual_share"], [0, 1 / 6, 0.5, 1])


# -- residuals ------------------------------------------------------------------------------------


def test_residuals_match_statsmodels_tweedie_glm():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(8)
    n = 400
    x = rng.normal(size=n)
    mu = np.exp(0.5 + 0.4 * x)
    y = rng.poisson(mu) * rng.gamma(2.0, 1.0, n)
    w = rng.uniform(0.2, 2.0, n)
    family = sm.families.Tweedie(var_power=1.5, link=sm.families.links.Log())
    fit = sm.GLM(y, sm.add_constant(x), family=family, var_weights=w).fit()
    np.testing.assert_allclose(residuals(y, fit.mu, 1.5, sample_weight=w), fit.resid_deviance,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(residuals(y, fit.mu, 1.5, "pearson", sample_weight=w),
                               fit.resid_pearson, rtol=1e-9, atol=1e-12)


def test_residuals_at_the_poisson_and_gamma_limits_follow_their_formulas():
    y = np.array([0.0, 1.0, 4.0, 2.0])
    mu = np.array([0.5, 2.0, 3.0, 2.0])
    pois = np.sign(y - mu) * np.sqrt(2 * (np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0)
                                          - y + mu))
    np.testing.assert_allclose(residuals(y, mu, 1), pois, atol=1e-15)
    yg = y[1:]
    gam = np.sign(yg - mu[1:]) * np.sqrt(2 * (np.log(mu[1:] / yg) + yg / mu[1:] - 1))
    np.testing.assert_allclose(residuals(yg, mu[1:], 2), gam, atol=1e-15)
    np.testing.assert_allclose(residuals(y, mu, 1.2, "pearson"), (y - mu) / mu ** 0.6)
    s = residuals(pd.Series(y, index=list("abcd")), mu, 1.5)
    assert list(s.index) == list("abcd")


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, match", [
    (lambda b: lift_table(b["incurred"], b["expected"][:-1]), "expected has 5999 values"),
    (lambda b: gini(b["incurred"], b["expected"], -b["exposure"]), "exposure must be positive"),
    (lambda b: gini(b["incurred"].where(b.index != 7), b["expected"]), "actual contains NaN"),
    (lambda b: lorenz_curve(b["incurred"], b["expected"].replace(b["expected"][3], np.inf)),
     "expected contains NaN or infinite"),
    (lambda b: lift_table(-b["incurred"] - 1, b["expected"]), "actual must be non-negative"),
    (lambda b: actual_vs_expected(b, "nope", "incurred", "expected"), "by: column 'nope'"),
    (lambda b: actual_vs_expected(b, "area", "incurred", "nope"), "expected: column 'nope'"),
    (lambda b: actual_vs_expected(b.assign(area=b["area"].where(b.index > 2)), "area", "incurred",
                                  "expected"), "by: column 'area' has 3 missing"),
    (lambda b: actual_vs_expected(b, "area", "incurred", "expected", confidence_level=1.0),
     "confidence_level"),
    (lambda b: actual_vs_expected(b, "area", "incurred", "expected", phi=0), "phi"),
    (lambda b: actual_vs_expected(b.head(10), "area", b["incurred"], b["expected"][:10]),
     "expected has 10 values"),
    (lambda b: lift_table(b["incurred"][:5], b["expected"][:5]), "n_bins=10 is more than the 5 rows"),
    (lambda b: residuals(b["incurred"], b["expected"], 2.5), "power must be in"),
    (lambda b: residuals(b["incurred"], b["expected"], 1.5, kind="raw"), "kind must be"),
    (lambda b: residuals(b["incurred"], b["expected"], 2), "actual must be positive"),
    (lambda b: residuals(b["incurred"], b["expected"], 1.5, sample_weight=-b["exposure"]),
     "sample_weight must be non-negative"),
    (lambda b: gini(np.zeros(5), np.ones(5)), "actual sums to zero"),
    (lambda b: normalized_gini(np.ones(5), np.ones(5)), "same actual rate"),
])
def test_bad_input_raises_value_error_naming_the_argument(book, call, match):
    with pytest.raises(ValueError, match=match):
        call(book)


def test_bad_types_raise_type_error(book):
    with pytest.raises(TypeError, match="data must be a pandas DataFrame"):
        actual_vs_expected(book.to_dict(), "area", "incurred", "expected")
    with pytest.raises(TypeError, match="actual: got the column name"):
        gini("incurred", book["expected"])
    with pytest.raises(ValueError, match="by: column 3 is not in data"):
        actual_vs_expected(book, 3, "incurred", "expected")
    with pytest.raises(ValueError, match="by must be a column name"):
        actual_vs_expected(book, [], "incurred", "expected")
    with pytest.raises(TypeError, match="n_bins"):
        lift_table(book["incurred"], book["expected"], n_bins=2.5)
