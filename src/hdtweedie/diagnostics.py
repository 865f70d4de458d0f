"""Model diagnostics for pricing sign-off: actual vs expected, lift, Lorenz curve, Gini, residuals.

Plain functions of observed values, predictions and exposure, so they serve
any fitted estimator or a model loaded from file.  Needs pandas
(``pip install hdtweedie[pandas]``).  Every sum is exposure-aware and is taken
with ``np.bincount`` over integer level codes, so a million rows take about a
second for A/E by seven factors, lift, double lift and Gini together
(``benchmarks/bench_diagnostics.py``).

Conventions shared by all functions:

- ``actual`` is the observed amount per row (claim count or incurred loss,
  not divided by exposure), finite and non-negative;
- ``expected`` is the model's prediction of that amount for the row (the
  exposure already applied), finite and positive;
- ``exposure`` is finite and positive; ``None`` means one per row;
- a *rate* is an amount per unit of exposure, e.g. ``expected / exposure``.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from ._checks import MAX_ABS_Y, _check_finite, check_scalar
from ._distribution import unit_deviance
from ._frames import to_pandas

__all__ = ["actual_vs_expected", "lift_table", "double_lift_table", "lorenz_curve", "gini",
           "normalized_gini", "residuals"]

# Amounts and exposures as large as the estimators accept; their squares stay finite.
_MAX_ABS = MAX_ABS_Y
# Predicted rates this close (relatively) count as tied: a few rounding errors, far below any
# difference a model makes.
_TIE_RTOL = 1e-12


def _vector(value, name: str, n: int | None, data=None) -> np.ndarray:
    """A column of ``data`` named by ``value``, or ``value`` itself, as a finite float64 vector."""
    if isinstance(value, str):
        if data is None:
            raise TypeError(f"{name}: got the column name {value!r} but no data to take it from")
        if value not in data.columns:
            raise ValueError(f"{name}: column {value!r} is not in data "
                             f"(columns: {[str(c) for c in data.columns][:20]})")
        value = data[value]
    if value is None or np.isscalar(value):
        raise TypeError(f"{name} must be a 1-dimensional array of numbers, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} values, expected {n} (one per row of actual)")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    _check_finite(arr, name, _MAX_ABS)
    return arr


def _check_sign(arr: np.ndarray, name: str, *, strict: bool) -> None:
    bad = arr <= 0 if strict else arr < 0
    if bad.any():
        word = "positive" if strict else "non-negative"
        raise ValueError(f"{name} must be {word}; found {int(bad.sum())} value(s) that are not, "
                         f"e.g. {arr[bad][0]:g}")


def _inputs(actual, expected, exposure, data=None, **more):
    """Validated ``actual``, ``expected``, ``exposure`` (ones when None) and any further predictions."""
    a = _vector(actual, "actual", None, data)
    n = a.shape[0]
    _check_sign(a, "actual", strict=False)
    preds = {"expected": expected, **more}
    out = [a]
    for name, value in preds.items():
        arr = _vector(value, name, n, data)
        _check_sign(arr, name, strict=True)
        out.append(arr)
    if exposure is None:
        e = np.ones(n)
    else:
        e = _vector(exposure, "exposure", n, data)
        _check_sign(e, "exposure", strict=True)
    return (*out, e)


def _check_bins(n_bins, n: int) -> int:
    n_bins = check_scalar(n_bins, "n_bins", int, low=1)
    if n_bins > n:
        raise ValueError(f"n_bins={n_bins} is more than the {n} rows")
    return n_bins


def _sums(codes: np.ndarray, n_levels: int, columns: dict) -> pd.DataFrame:
    """Per-level sums of each column (``None`` counts rows), one ``np.bincount`` each."""
    out = {}
    for name, values in columns.items():
        out[name] = np.bincount(codes, weights=values, minlength=n_levels)
    frame = pd.DataFrame(out)
    if "rows" in frame:
        frame["rows"] = frame["rows"].astype(np.int64)
    return frame


def _add_rates(table: pd.DataFrame, amounts: list[str]) -> None:
    """``<amount>_rate`` = amount per unit exposure, for each amount column."""
    for name in amounts:
        table[f"{name}_rate"] = table[name] / table["exposure"]


# -- actual vs expected -----------------------------------------------------------------------


def _weighted_edges(x: np.ndarray, weight: np.ndarray, n_bins: int) -> np.ndarray:
    """Distinct edges of ``n_bins`` bands of (nearly) equal total weight, min and max included."""
    order = np.argsort(x)  # the order among equal values does not move an edge
    xs = x[order]
    share = np.cumsum(weight[order]) / weight.sum()
    inner = xs[np.minimum(np.searchsorted(share, np.arange(1, n_bins) / n_bins), xs.size - 1)]
    return np.unique(np.concatenate(([xs[0]], inner, [xs[-1]])))


def _levels(data: pd.DataFrame, column, n_bins: int, exposure: np.ndarray):
    """Integer codes (0..k-1) of ``data[column]`` and the index of its k levels, in order."""
    if column not in data.columns:
        raise ValueError(f"by: column {column!r} is not in data "
                         f"(columns: {[str(c) for c in data.columns][:20]})")
    s = data[column]
    if isinstance(s, pd.DataFrame):
        raise ValueError(f"by: column name {column!r} is not unique in data")
    missing = int(s.isna().sum())
    if missing:
        raise ValueError(f"by: column {column!r} has {missing} missing value(s); give them a level "
                         f"of their own (e.g. fillna('missing')) first")
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.intp)
        index = pd.CategoricalIndex(dtype.categories, categories=dtype.categories,
                                    ordered=dtype.ordered, name=column)
        return codes, index
    kind = getattr(dtype, "kind", "O")
    if kind in "iuf":
        x = s.to_numpy(dtype=np.float64)
        _check_finite(x, f"by column {column!r}", _MAX_ABS)
        xs = np.sort(x)
        values = xs[np.r_[True, xs[1:] != xs[:-1]]]
        if values.size <= n_bins:
            return np.searchsorted(values, x), pd.Index(values, name=column).astype(dtype)
        edges = _weighted_edges(x, exposure, n_bins)
        # Bands are closed on the right, (edge_j, edge_j+1]; the first also holds the minimum.
        codes = np.searchsorted(edges[1:-1], x, side="left")
        return codes, pd.IntervalIndex.from_breaks(edges, closed="right", name=column)
    try:
        codes, uniques = pd.factorize(s, sort=True)
    except TypeError as exc:
        raise TypeError(f"by: column {column!r} mixes values that cannot be ordered: {exc}") from None
    return codes.astype(np.intp), pd.Index(uniques, name=column)


def _pearson_phi(a: np.ndarray, m: np.ndarray, v: np.ndarray) -> float:
    """Pearson estimate of the dispersion: mean of ``(y - mu)^2 / V``."""
    return float(np.mean((a - m) ** 2 / v))


def _ae_table(codes, index, a, m, e, v, counts, z: float) -> pd.DataFrame:
    cols = {"exposure": e, "rows": None}
    if counts is not None:
        cols["claims"] = counts
    cols.update(actual=a, expected=m, variance=v)
    table = _sums(codes, len(index), cols)
    table.index = index
    table = table[table["rows"] > 0].copy()
    _add_rates(table, ["actual", "expected"])
    table["ae"] = table["actual"] / table["expected"]
    half = z * np.sqrt(table.pop("variance")) / table["expected"]
    table["ae_lower"] = np.maximum(table["ae"] - half, 0.0)
    table["ae_upper"] = table["ae"] + half
    return table


def actual_vs_expected(data, by, actual, expected, exposure=None, *, counts=None, n_bins=10,
                       power=1.5, phi=None, confidence_level=0.95):
    """Actual against expected by level of one or more columns, with an interval for A/E.

    Parameters
    ----------
    data : pandas.DataFrame, polars.DataFrame or pyarrow.Table
        The rows; holds the ``by`` columns and any of the other arguments
        given as column names.  A polars or Arrow frame is read as the pandas
        frame it converts to (categoricals as ``category``, nulls as missing).
    by : column name or list of column names
        Column(s) to tabulate by, modelled or not.  Categorical columns keep
        their category order (ordered or not); other non-numeric columns are
        sorted.  A numeric column with at most ``n_bins`` distinct values keeps
        its values as levels; otherwise it is cut into ``n_bins`` bands of
        (nearly) equal exposure, closed on the right, the first holding the
        minimum (fewer when many rows share a value).  Levels without rows
        are left out.
    actual : str or array-like of shape (n,)
        Observed amount per row (claim count or loss, not divided by
        exposure), non-negative; a column name or the values.
    expected : str or array-like of shape (n,)
        The model's prediction of that amount per row, positive.
    exposure : str or array-like of shape (n,), optional
        Positive exposure per row; one per row when omitted.
    counts : str or array-like of shape (n,), optional
        Claim counts per row, summed into a ``claims`` column.
    n_bins : int, default=10
        Number of exposure bands for numeric columns.
    power : float, default=1.5
        Tweedie power of the variance used for the interval (set it to the
        model's), in [1, 2].
    phi : float, optional
        Dispersion for the interval; estimated from Pearson residuals on
        all rows when omitted.
    confidence_level : float, default=0.95
        Coverage of the interval, in (0, 1).

    Returns
    -------
    pandas.DataFrame or dict of str to pandas.DataFrame
        For a single column, one table indexed by its levels (an
        ``IntervalIndex`` for banded numbers) with columns ``exposure``,
        ``rows``, ``claims`` (when ``counts`` is given), ``actual``,
        ``expected``, ``actual_rate``, ``expected_rate`` (per unit exposure),
        ``ae`` (actual / expected), ``ae_lower`` and ``ae_upper``.  For a list,
        a dict of such tables keyed by column, in the order given.  Each
        table's ``attrs`` records ``power``, ``phi`` and ``confidence_level``.

    Raises
    ------
    ValueError
        If a column is missing from ``data`` or a ``by`` column has missing
        values, if lengths differ, or if values are NaN, infinite or of the
        wrong sign.
    TypeError
        If ``data`` is not a DataFrame or an argument is not numeric.

    Notes
    -----
    The interval is a normal approximation that treats each row's expected
    amount as fixed and its actual amount as Tweedie with variance
    ``phi * exposure^(1 - power) * expected^power`` (the variance of the
    amount when the rate, ``expected / exposure``, is Tweedie with weight
    ``exposure``): for a level with sums ``A`` and ``E``,
    ``A/E +- z * sqrt(sum of variances) / E``, the lower end clipped at 0.
    ``phi`` defaults to the Pearson estimate
    ``mean((actual - expected)^2 / variance function)``, one value for all
    levels and columns.  An interval that excludes 1 flags a level the
    model over- or under-prices by more than chance explains.
    """
    data = to_pandas(data, "data")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame (or a polars or Arrow one), "
                        f"got {type(data).__name__}")
    single = not isinstance(by, (list, tuple))
    columns = [by] if single else list(by)
    if not columns:
        raise ValueError("by must be a column name or a non-empty list of them, got an empty list")
    a, m, e = _inputs(actual, expected, exposure, data)
    if a.shape[0] != len(data):
        raise ValueError(f"actual has {a.shape[0]} values but data has {len(data)} rows")
    c = None
    if counts is not None:
        c = _vector(counts, "counts", a.shape[0], data)
        _check_sign(c, "counts", strict=False)
    n_bins = check_scalar(n_bins, "n_bins", int, low=1)
    power = check_scalar(power, "power", float, low=1, high=2)
    level = check_scalar(confidence_level, "confidence_level", float, low=0, high=1,
                         low_open=True, high_open=True)
    v = e ** (1.0 - power) * m ** power
    phi = _pearson_phi(a, m, v) if phi is None else check_scalar(phi, "phi", float, low=0,
                                                                 low_open=True)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    tables = {}
    for col in columns:
        codes, index = _levels(data, col, n_bins, e)
        table = _ae_table(codes, index, a, m, e, phi * v, c, z)
        table.attrs.update(power=power, phi=phi, confidence_level=level)
        tables[col] = table
    return tables[by] if single else tables


# -- lift ---------------------------------------------------------------------------------------


def _equal_exposure_bins(key: np.ndarray, exposure: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin (0..n_bins-1) of each row, ordered by ``key``, each bin holding 1/n_bins of the exposure.

    A row goes to the bin holding the midpoint of its stretch of cumulative
    exposure, so every bin's exposure is within one row's of the target.
    """
    order = np.argsort(key, kind="stable")
    e = exposure[order]
    cum = np.cumsum(e)
    mid = (cum - e / 2) / cum[-1]
    codes = np.empty(key.shape[0], dtype=np.intp)
    codes[order] = np.minimum((mid * n_bins).astype(np.intp), n_bins - 1)
    return codes


def _lift(key, columns: dict, amounts: list[str], e: np.ndarray, n_bins: int) -> pd.DataFrame:
    codes = _equal_exposure_bins(key, e, n_bins)
    table = _sums(codes, n_bins, {"exposure": e, "rows": None, **columns})
    table.index = pd.RangeIndex(1, n_bins + 1, name="bin")
    table = table[table["rows"] > 0].copy()
    _add_rates(table, amounts)
    return table


def lift_table(actual, expected, exposure=None, n_bins=10):
    """Lift table: rows ordered by predicted rate, in bins of equal exposure.

    Parameters
    ----------
    actual : array-like of shape (n,)
        Observed amount per row, non-negative.
    expected : array-like of shape (n,)
        Predicted amount per row, positive.
    exposure : array-like of shape (n,), optional
        Positive exposure per row; one per row when omitted.
    n_bins : int, default=10
        Number of bins.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``bin`` (1 = lowest predicted rate ``expected / exposure``),
        with ``exposure``, ``rows``, ``actual``, ``expected``, ``actual_rate``,
        ``expected_rate`` and ``ae`` (actual / expected).  Each bin's exposure
        is within one row's exposure of ``total / n_bins`` (a row goes to the
        bin holding the midpoint of its cumulative exposure); ties in the
        predicted rate keep the input order.  A bin left empty by a row of
        very large exposure is omitted.

    Raises
    ------
    ValueError
        If lengths differ, values are NaN, infinite or of the wrong sign, or
        ``n_bins`` exceeds the number of rows.
    """
    a, m, e = _inputs(actual, expected, exposure)
    n_bins = _check_bins(n_bins, a.shape[0])
    table = _lift(m / e, {"actual": a, "expected": m}, ["actual", "expected"], e, n_bins)
    table["ae"] = table["actual"] / table["expected"]
    return table


def double_lift_table(actual, expected, benchmark, exposure=None, n_bins=10):
    """Double lift table: a model against a benchmark, rows ordered by ``expected / benchmark``.

    Parameters
    ----------
    actual : array-like of shape (n,)
        Observed amount per row, non-negative.
    expected : array-like of shape (n,)
        The model's predicted amount per row, positive.
    benchmark : array-like of shape (n,)
        The benchmark's (e.g. current tariff's) predicted amount per row,
        positive.
    exposure : array-like of shape (n,), optional
        Positive exposure per row; one per row when omitted.
    n_bins : int, default=10
        Number of bins of equal exposure.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``bin`` (1 = where the model is lowest relative to the
        benchmark), with ``exposure``, ``rows``, ``actual``, ``expected``,
        ``benchmark``, their ``*_rate`` per unit exposure, ``ae`` (actual /
        expected), ``ae_benchmark`` (actual / benchmark) and ``ratio``
        (expected / benchmark).  Bins as in :func:`lift_table`.  The better
        model is the one whose A/E stays nearer 1 across the bins.

    Raises
    ------
    ValueError
        If lengths differ, values are NaN, infinite or of the wrong sign, or
        ``n_bins`` exceeds the number of rows.
    """
    a, m, b, e = _inputs(actual, expected, exposure, benchmark=benchmark)
    n_bins = _check_bins(n_bins, a.shape[0])
    amounts = ["actual", "expected", "benchmark"]
    table = _lift(m / b, {"actual": a, "expected": m, "benchmark": b}, amounts, e, n_bins)
    table["ae"] = table["actual"] / table["expected"]
    table["ae_benchmark"] = table["actual"] / table["benchmark"]
    table["ratio"] = table["expected"] / table["benchmark"]
    return table


# -- Lorenz curve and Gini ------------------------------------------------------------------------


def _lorenz_points(a: np.ndarray, key: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative exposure and actual shares, ordered by ``key``, one point per distinct key."""
    total = a.sum()
    if not total > 0:
        raise ValueError("actual sums to zero; the Lorenz curve and Gini are undefined")
    order = np.argsort(key)  # tied rows are merged below, so their order does not matter
    ks = key[order]
    # Rows tied on the key become one straight segment: the average over their orderings.  Keys
    # within rounding of each other tie, so that rescaling the predictions cannot split a tie.
    ends = np.append(np.flatnonzero(ks[1:] - ks[:-1] > _TIE_RTOL * np.abs(ks[1:])), ks.size - 1)
    x = np.concatenate(([0.0], np.cumsum(e[order])[ends] / e.sum()))
    y = np.concatenate(([0.0], np.cumsum(a[order])[ends] / total))
    return x, y


def _gini(a: np.ndarray, key: np.ndarray, e: np.ndarray) -> float:
    x, y = _lorenz_points(a, key, e)
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2)
    return 1.0 - 2.0 * area


def lorenz_curve(actual, expected, exposure=None):
    """Lorenz curve: cumulative share of actual against cumulative share of exposure.

    Parameters
    ----------
    actual : array-like of shape (n,)
        Observed amount per row, non-negative, with a positive sum.
    expected : array-like of shape (n,)
        Predicted amount per row, positive.
    exposure : array-like of shape (n,), optional
        Positive exposure per row; one per row when omitted.

    Returns
    -------
    pandas.DataFrame
        Columns ``exposure_share`` and ``actual_share``, from (0, 0) to
        (1, 1), rows taken by predicted rate ``expected / exposure``
        ascending; rows with the same predicted rate (to a relative 1e-12)
        form one point, so the curve crosses a tie with a straight line.

    Raises
    ------
    ValueError
        If lengths differ, values are NaN, infinite or of the wrong sign, or
        ``actual`` sums to zero.
    """
    a, m, e = _inputs(actual, expected, exposure)
    x, y = _lorenz_points(a, m / e, e)
    return pd.DataFrame({"exposure_share": x, "actual_share": y})


def gini(actual, expected, exposure=None):
    """Exposure-weighted Gini coefficient of a model's ranking.

    Parameters
    ----------
    actual, expected, exposure : array-like of shape (n,)
        As for :func:`lorenz_curve` (``exposure`` optional).

    Returns
    -------
    float
        Twice the area between the diagonal and the :func:`lorenz_curve`
        (``1 - 2 * area under the curve``).  With rows ordered by predicted
        rate ascending the curve of a model that ranks risk lies below the
        diagonal, so the Gini is positive, 0 for a ranking no better than
        chance and negative for one worse than chance; its maximum is that
        of the perfect ranking (see :func:`normalized_gini`).  Only the
        order of the predicted rates matters, so scaling ``expected`` leaves
        it unchanged.  Tied predicted rates count as the average over their
        orderings.

    Raises
    ------
    ValueError
        As :func:`lorenz_curve`.
    """
    a, m, e = _inputs(actual, expected, exposure)
    return _gini(a, m / e, e)


def normalized_gini(actual, expected, exposure=None):
    """Gini of the model divided by the Gini of the perfect ranking.

    The perfect ranking orders rows by their actual rate ``actual / exposure``,
    so the result is 1 for a perfect ranking and at most 1.

    Parameters
    ----------
    actual, expected, exposure : array-like of shape (n,)
        As for :func:`gini`.

    Returns
    -------
    float
        ``gini(actual, expected, exposure)`` over the perfect ranking's Gini.

    Raises
    ------
    ValueError
        As :func:`gini`, and if every row has the same actual rate (the
        perfect Gini is then 0).
    """
    a, m, e = _inputs(actual, expected, exposure)
    best = _gini(a, a / e, e)
    if not best > 0:
        raise ValueError("actual: every row has the same actual rate, so the perfect Gini is 0 "
                         "and the normalized Gini is undefined")
    return _gini(a, m / e, e) / best


# -- residuals ------------------------------------------------------------------------------------


def residuals(actual, expected, power, kind="deviance", sample_weight=None):
    """Deviance or Pearson residuals of a Tweedie model.

    Parameters
    ----------
    actual : array-like of shape (n,)
        Observed response ``y`` per row, non-negative (positive for
        ``power=2``), on the scale the model was fitted on.
    expected : array-like of shape (n,)
        Fitted mean ``mu`` per row, positive.
    power : float
        Tweedie power, in [1, 2].
    kind : {"deviance", "pearson"}, default="deviance"
        ``"deviance"``: ``sign(y - mu) * sqrt(w * d(y, mu))`` with ``d`` the
        Tweedie unit deviance; ``"pearson"``:
        ``(y - mu) / sqrt(mu^power) * sqrt(w)``.
    sample_weight : array-like of shape (n,), optional
        Non-negative weights ``w``; one per row when omitted.

    Returns
    -------
    numpy.ndarray or pandas.Series
        One residual per row; a Series with the index of ``actual`` when
        ``actual`` is one.

    Raises
    ------
    ValueError
        If ``kind`` or ``power`` is not allowed, lengths differ, or values
        are NaN, infinite or of the wrong sign.
    """
    if kind not in ("deviance", "pearson"):
        raise ValueError(f"kind must be 'deviance' or 'pearson', got {kind!r}")
    power = check_scalar(power, "power", float, low=1, high=2)
    y, mu, _ = _inputs(actual, expected, None)
    if power == 2:
        _check_sign(y, "actual", strict=True)
    w = np.ones(y.shape[0])
    if sample_weight is not None:
        w = _vector(sample_weight, "sample_weight", y.shape[0])
        _check_sign(w, "sample_weight", strict=False)
    if kind == "deviance":
        d = np.maximum(unit_deviance(y, mu, power), 0.0)
        out = np.sign(y - mu) * np.sqrt(w * d)
    else:
        out = (y - mu) / np.sqrt(mu ** power) * np.sqrt(w)
    if isinstance(actual, pd.Series):
        return pd.Series(out, index=actual.index, name=f"{kind}_residual")
    return out
