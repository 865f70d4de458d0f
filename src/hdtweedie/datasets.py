"""Synthetic data sets with known true effects.

:func:`make_motor_portfolio` simulates a UK private-car portfolio whose pure
premium follows a log-linear model in its rating factors, so that a fitted
model can be checked against the truth: which factors matter, and by how much.
:func:`true_relativities` gives that truth as a tidy table.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "make_motor_portfolio",
    "true_relativities",
    "RATING_FACTORS",
    "NOISE_FACTORS",
]

# Each factor: levels as (label, share of policies, true pure-premium relativity).
# The most common level of every factor has relativity 1.0, so it is also the
# base level that an exposure- or count-based encoder picks by default.
_TRUE_FACTORS = {
    "area": [
        ("A", 0.14, 0.80),
        ("B", 0.20, 0.88),
        ("C", 0.30, 1.00),
        ("D", 0.20, 1.15),
        ("E", 0.16, 1.35),
    ],
    "ncd_years": [
        ("0", 0.12, 1.55),
        ("1-2", 0.18, 1.30),
        ("3-4", 0.20, 1.12),
        ("5+", 0.50, 1.00),
    ],
    "vehicle_group": [
        ("1-10", 0.25, 0.85),
        ("11-20", 0.33, 1.00),
        ("21-30", 0.24, 1.20),
        ("31-50", 0.18, 1.50),
    ],
    "driver_age": [
        ("17-24", 0.10, 1.90),
        ("25-39", 0.25, 1.25),
        ("40-59", 0.40, 1.00),
        ("60+", 0.25, 0.88),
    ],
    "conviction": [
        ("No", 0.88, 1.00),
        ("Yes", 0.12, 1.35),
    ],
}

# Factors that a pricing data set typically carries but that have no effect here.
_NOISE_FACTORS = {
    "vehicle_colour": [
        ("Black", 0.16), ("Blue", 0.14), ("Grey", 0.18), ("Other", 0.06),
        ("Red", 0.10), ("Silver", 0.20), ("White", 0.16),
    ],
    "start_month": [
        (m, 1.0 / 12.0)
        for m in ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    ],
}

#: Rating factors with a true effect on pure premium, in column order.
RATING_FACTORS = tuple(_TRUE_FACTORS)
#: Factors in the portfolio with no effect at all.
NOISE_FACTORS = tuple(_NOISE_FACTORS)


def _truth_dict():
    """Nested ``{factor: {level: relativity}}`` for every factor, noise included."""
    truth = {f: {lvl: float(rel) for lvl, _, rel in levels}
             for f, levels in _TRUE_FACTORS.items()}
    for f, levels in _NOISE_FACTORS.items():
        truth[f] = {lvl: 1.0 for lvl, _ in levels}
    return truth


def true_relativities(include_noise=True):
    """True pure-premium relativities of :func:`make_motor_portfolio`.

    Parameters
    ----------
    include_noise : bool, default=True
        Include the pure-noise factors (every level at relativity 1.0).

    Returns
    -------
    pandas.DataFrame
        One row per factor level with columns ``Factor``, ``Level`` and
        ``Relativity``.  Each factor's base level (its most common level)
        has relativity 1.0.
    """
    pd = _require_pandas()
    truth = _truth_dict()
    rows = [
        (factor, level, rel)
        for factor, levels in truth.items()
        if include_noise or factor in _TRUE_FACTORS
        for level, rel in levels.items()
    ]
    return pd.DataFrame(rows, columns=["Factor", "Level", "Relativity"])


def _require_pandas():
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is a test dependency
        raise ImportError(
            "hdtweedie.datasets needs pandas: pip install hdtweedie[pandas]"
        ) from exc
    return pd


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(value)


def _check_positive(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def make_motor_portfolio(n=100_000, random_state=0, *, frequency=1.0,
                         severity=1_500.0, severity_shape=2.0):
    """Simulate a UK motor portfolio with known true rating-factor effects.

    Each policy has five rating factors with a true multiplicative effect on
    pure premium (``area``, ``ncd_years``, ``vehicle_group``, ``driver_age``,
    ``conviction``) and two pure-noise factors (``vehicle_colour``,
    ``start_month``), drawn independently.  Its expected pure premium (loss
    per unit of exposure) is::

        E[incurred / exposure] = frequency * severity * prod_f relativity_f

    Half of each relativity (on the log scale) acts on claim frequency and
    half on claim severity.  Claim counts are Poisson with mean
    ``exposure * frequency_i`` and each claim is Gamma distributed with shape
    ``severity_shape``, so incurred losses follow a compound Poisson-Gamma
    (Tweedie-type) distribution with an exact log-linear mean and
    ``log(exposure)`` as offset.

    Parameters
    ----------
    n : int, default=100_000
        Number of policies.
    random_state : int, numpy.random.Generator or None, default=0
        Seed or generator; the same seed gives the same portfolio.
    frequency : float, default=1.0
        Expected claims per year of exposure for a policy at every base
        level.  The default is higher than a real private-car book so that
        100,000 policies hold enough claims for the relativities to be
        estimated to a few percent; lower it for a more realistic, noisier
        portfolio.
    severity : float, default=1500.0
        Expected cost of a claim at every base level.
    severity_shape : float, default=2.0
        Gamma shape of the claim cost (its coefficient of variation is
        ``1 / sqrt(severity_shape)``).

    Returns
    -------
    pandas.DataFrame
        One row per policy with columns ``policy_id``, the rating factors
        (strings), ``exposure`` (earned years in (0, 1]), ``claim_count``,
        ``incurred`` (total claim cost) and ``pure_premium``
        (``incurred / exposure``).  ``df.attrs`` holds the truth:
        ``"true_relativities"`` (``{factor: {level: relativity}}``),
        ``"rating_factors"``, ``"noise_factors"`` and
        ``"base_pure_premium"`` (``frequency * severity``).

    See Also
    --------
    true_relativities : the same truth as a tidy table.

    Examples
    --------
    >>> from hdtweedie.datasets import make_motor_portfolio
    >>> df = make_motor_portfolio(n=1000, random_state=1)
    >>> sorted(df.attrs["true_relativities"]["conviction"].items())
    [('No', 1.0), ('Yes', 1.35)]
    """
    pd = _require_pandas()
    n = _check_int("n", n, 1)
    frequency = _check_positive("frequency", frequency)
    severity = _check_positive("severity", severity)
    severity_shape = _check_positive("severity_shape", severity_shape)
    if isinstance(random_state, np.random.Generator):
        rng = random_state
    elif random_state is None or isinstance(random_state, (int, np.integer)):
        rng = np.random.default_rng(random_state)
    else:
        raise TypeError(
            "random_state must be an int, a numpy Generator or None, "
            f"got {random_state!r}"
        )

    columns = {"policy_id": np.arange(1, n + 1)}
    log_rel = np.zeros(n)
    for factor, levels in _TRUE_FACTORS.items():
        labels = np.array([lvl for lvl, _, _ in levels], dtype=object)
        shares = np.array([s for _, s, _ in levels])
        rels = np.array([r for _, _, r in levels])
        idx = rng.choice(len(levels), size=n, p=shares / shares.sum())
        columns[factor] = labels[idx]
        log_rel += np.log(rels)[idx]
    for factor, levels in _NOISE_FACTORS.items():
        labels = np.array([lvl for lvl, _ in levels], dtype=object)
        shares = np.array([s for _, s in levels])
        idx = rng.choice(len(levels), size=n, p=shares / shares.sum())
        columns[factor] = labels[idx]

    # Most policies are in force all year; the rest joined or lapsed mid-term.
    part_year = rng.random(n) < 0.3
    exposure = np.where(part_year, rng.uniform(0.05, 1.0, size=n), 1.0)
    exposure = np.round(exposure, 4)

    freq = frequency * np.exp(0.5 * log_rel)
    mean_cost = severity * np.exp(0.5 * log_rel)
    counts = rng.poisson(exposure * freq)
    # The sum of k iid Gamma(shape a, scale s) claims is Gamma(k a, s).
    incurred = np.zeros(n)
    has_claim = counts > 0
    incurred[has_claim] = rng.gamma(
        counts[has_claim] * severity_shape,
        mean_cost[has_claim] / severity_shape,
    )

    columns["exposure"] = exposure
    columns["claim_count"] = counts
    columns["incurred"] = incurred
    columns["pure_premium"] = incurred / exposure
    df = pd.DataFrame(columns)
    df.attrs["true_relativities"] = _truth_dict()
    df.attrs["rating_factors"] = list(RATING_FACTORS)
    df.attrs["noise_factors"] = list(NOISE_FACTORS)
    df.attrs["base_pure_premium"] = frequency * severity
    return df
