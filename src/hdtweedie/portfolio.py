"""Fitting a portfolio table: choosing its columns, encoding them and the CV fit.

:func:`choose_columns` decides which columns of a table are rating factors and
numeric inputs, leaving out (and saying why) identifiers and columns derived
from the response; :func:`fit_portfolio` encodes them with one group per
factor and fits :class:`~hdtweedie.HDTweedieCV`; :func:`selection_summary`
says what the fit kept.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .tables import numeric_values, require_columns

__all__ = ["ColumnChoice", "EncodedPortfolio", "PortfolioFit", "choose_columns", "column_values",
           "encode_portfolio", "fit_portfolio", "selected_groups", "selection_summary"]

#: Spearman correlation with the response above which a column is taken as derived from it.
RANK_CORRELATION_LIMIT = 0.98
_ID_NAME = re.compile(r"^(id|.+[_ .-]id|id[_ .-].+|.+[_ .-](no|num|number|key|ref))$", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID)$")


@dataclass(frozen=True)
class ColumnChoice:
    """The inputs of a fit and the columns left out.

    Attributes
    ----------
    factors : tuple of str
        Categorical rating factors (one-hot, one group each).
    numeric : tuple of str
        Numeric inputs (one group each).
    left_out : dict
        ``{column: reason}`` for every other column except the response,
        exposure and weights.
    warnings : tuple of str
        Columns given explicitly that look like identifiers or are derived
        from the response.
    """

    factors: tuple[str, ...]
    numeric: tuple[str, ...]
    left_out: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortfolioFit:
    """A fitted portfolio model.

    Attributes
    ----------
    cv : HDTweedieCV
        The fitted cross-validated model.
    encoder : FactorEncoder
        The fitted encoder that made its columns.
    rows, columns : int
        Size of the encoded design matrix.
    fit_seconds : float
        Time of the path and CV fit.
    """

    cv: object
    encoder: object
    rows: int
    columns: int
    fit_seconds: float


def column_values(df, column: str, what: str, source: str, *, positive: bool = False,
                  nonnegative: bool = False) -> np.ndarray:
    """A column as float64, refusing missing, infinite, negative or non-numeric values.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    column : str
        The column.
    what : str
        Its role in messages ("response", "exposure", ...).
    source : str
        The table's name in messages.
    positive, nonnegative : bool
        Also refuse values <= 0, or < 0.

    Returns
    -------
    numpy.ndarray
        A writable float64 copy.

    Raises
    ------
    ValueError
        A value is missing, not finite, or out of range; the message gives the
        first row (counting data rows from 1).
    TypeError
        The column is not numeric.
    """
    try:
        values, bad = numeric_values(df[column])
    except TypeError as exc:
        raise TypeError(f"{what} column {column!r} in {source} {exc}") from None
    if bad.any():
        raise ValueError(f"{what} column {column!r} in {source} has {int(bad.sum())} missing, "
                         f"non-numeric or infinite value(s), first at row {int(np.flatnonzero(bad)[0]) + 1}")
    for refused, rule in ((positive, values <= 0), (nonnegative, values < 0)):
        if refused and rule.any():
            row = int(np.flatnonzero(rule)[0])
            need = "be positive" if positive else "not be negative"
            raise ValueError(f"{what} column {column!r} in {source} must {need}; row {row + 1} "
                             f"has {values[row]:g}")
    return values


def _is_number_column(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _identifier_reason(name: str, series) -> str | None:
    """Why a column looks like an identifier, or None."""
    if _ID_NAME.match(str(name)) or _CAMEL_ID.search(str(name)):
        return "its name looks like an identifier"
    n = len(series)
    if n < 20 or series.nunique(dropna=False) < n:
        return None
    if not _is_number_column(series):
        return "a distinct value on every row (an identifier)"
    values = series.to_numpy(dtype=float)
    if np.all(values == np.round(values)):
        return "a distinct whole number on every row (an identifier)"
    return None


def _derived_reason(series, y: np.ndarray, exposure: np.ndarray | None) -> str | None:
    """Why a numeric column looks derived from the response, or None."""
    if not _is_number_column(series):
        return None
    x = series.to_numpy(dtype=float)
    if not np.all(np.isfinite(x)):
        return None
    if exposure is not None and np.allclose(x, y / exposure, rtol=1e-9, atol=0.0):
        return "equal to response / exposure (derived from the response)"
    zero_y = y == 0
    if zero_y.any() and not zero_y.all() and np.array_equal(x == 0, zero_y):
        return "zero exactly where the response is zero (derived from the response)"
    if np.ptp(x) > 0 and np.ptp(y) > 0:
        from scipy.stats import rankdata

        rho = np.corrcoef(rankdata(x), rankdata(y))[0, 1]
        if abs(rho) >= RANK_CORRELATION_LIMIT:
            return f"rank correlation {rho:.3f} with the response (derived from the response)"
    return None


def _screen(df, column: str, y: np.ndarray, exposure: np.ndarray | None) -> str | None:
    series = df[column]
    if series.nunique(dropna=False) < 2:
        return "a single value on every row"
    return _identifier_reason(column, series) or _derived_reason(series, y, exposure)


def choose_columns(df, *, response: str, exposure: str | None = None, weights: str | None = None,
                   factors: Sequence[str] = (), numeric: Sequence[str] = (),
                   exclude: Sequence[str] = (), source: str = "data") -> ColumnChoice:
    """Choose the rating factors and numeric inputs of a portfolio table.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    response : str
        Response column (incurred loss with ``exposure``, else pure premium).
    exposure, weights : str, optional
        Exposure and weight columns; never inputs.
    factors, numeric : sequence of str
        Columns given explicitly.  When both are empty they are inferred:
        text and boolean columns become factors, numeric columns numeric
        inputs, except columns in ``exclude``, constant columns, identifiers
        (a name such as ``id``, ``policy_id`` or ``*_id``, or a distinct value
        on every row) and columns derived from the response (zero exactly
        where it is zero, equal to response / exposure, or with a rank
        correlation of at least :data:`RANK_CORRELATION_LIMIT` with it).
    exclude : sequence of str
        Columns never used as inputs.
    source : str
        The table's name in messages.

    Returns
    -------
    ColumnChoice
        The inputs, the left-out columns with the reason for each, and
        warnings about explicit inputs that look like identifiers or derived
        from the response.

    Raises
    ------
    ValueError
        A named column is missing, a column is given twice, an input is also
        the response, exposure or weights, or no input remains.
    TypeError
        The response or exposure is not numeric.
    """
    special = [c for c in (response, exposure, weights) if c is not None]
    for col, what in ((response, "response"), (exposure, "exposure"), (weights, "weights")):
        if col is not None:
            require_columns(df, [col], what, source)
    for cols, what in ((factors, "factor"), (numeric, "numeric"), (exclude, "--exclude")):
        require_columns(df, list(cols), what, source)
    both = [c for c in factors if c in numeric]
    if both:
        raise ValueError(f"column(s) {', '.join(map(repr, both))} given as both --factors and --numeric")
    clash = [c for c in list(factors) + list(numeric) if c in special]
    if clash:
        raise ValueError(f"column(s) {', '.join(map(repr, clash))} cannot be both an input and "
                         "the response, exposure or weights")
    excluded = [c for c in list(factors) + list(numeric) if c in exclude]
    if excluded:
        raise ValueError(f"column(s) {', '.join(map(repr, excluded))} given as inputs and in --exclude")
    y = column_values(df, response, "response", source, nonnegative=True)
    expo = None if exposure is None else column_values(df, exposure, "exposure", source, positive=True)

    if factors or numeric:
        warnings = tuple(f"input column {c!r}: {reason}" for c in list(factors) + list(numeric)
                         if (reason := _screen(df, c, y, expo)) is not None)
        left_out = {c: "not listed in --factors or --numeric" for c in df.columns
                    if c not in special and c not in factors and c not in numeric}
        left_out.update({c: "excluded (--exclude)" for c in exclude})
        return ColumnChoice(tuple(factors), tuple(numeric), left_out, warnings)

    chosen_f, chosen_n, left_out = [], [], {}
    for col in df.columns:
        if col in special:
            continue
        reason = "excluded (--exclude)" if col in exclude else _screen(df, col, y, expo)
        if reason is not None:
            left_out[col] = reason
        elif _is_number_column(df[col]):
            chosen_n.append(col)
        else:
            chosen_f.append(col)
    if not chosen_f and not chosen_n:
        raise ValueError(f"no input columns left in {source} after leaving out identifiers and "
                         "columns derived from the response: give --factors and/or --numeric")
    return ColumnChoice(tuple(chosen_f), tuple(chosen_n), left_out)


@dataclass(frozen=True)
class EncodedPortfolio:
    """A portfolio table as the arrays of a fit.

    Attributes
    ----------
    X : scipy.sparse matrix
        One-hot rating factors and numeric inputs, one group per input.
    y : numpy.ndarray
        The response.
    sample_weight, offset : numpy.ndarray or None
        The weights, and ``log(exposure)``.
    encoder : FactorEncoder
        The fitted encoder that made ``X``.
    """

    X: object
    y: np.ndarray
    sample_weight: np.ndarray | None
    offset: np.ndarray | None
    encoder: object


def encode_portfolio(df, *, response: str, factors: Sequence[str], numeric: Sequence[str] = (),
                     exposure: str | None = None, weights: str | None = None,
                     source: str = "data", structure: dict | None = None) -> EncodedPortfolio:
    """Check the columns of a portfolio and encode its inputs with one group per input.

    Parameters
    ----------
    df : pandas.DataFrame
        The portfolio.
    response, factors, numeric, exposure, weights, source, structure
        As in :func:`fit_portfolio`.

    Returns
    -------
    EncodedPortfolio

    Raises
    ------
    ValueError
        No inputs; a response, exposure, weight or numeric value is missing,
        negative or not finite; the response is zero on every row.
    TypeError
        One of those columns is not numeric.
    """
    from ._encoder import FactorEncoder

    if not factors and not numeric:
        raise ValueError("no input columns: give --factors and/or --numeric")
    y = column_values(df, response, "response", source, nonnegative=True)
    if not np.any(y > 0):
        raise ValueError(f"response column {response!r} in {source} is zero on every row")
    expo = None if exposure is None else column_values(df, exposure, "exposure", source, positive=True)
    w = None if weights is None else column_values(df, weights, "weights", source, nonnegative=True)
    for col in numeric:
        column_values(df, col, "numeric", source)
    # One-hot columns are mostly zeros: the sparse kernel is faster on them.
    encoder = FactorEncoder(factors=list(factors), sparse_output=True, **(structure or {}))
    # Base levels default to the level with the most exposure (or weight).
    X = encoder.fit_transform(df[list(factors) + list(numeric)],
                              sample_weight=expo if expo is not None else w)
    return EncodedPortfolio(X, y, w, None if expo is None else np.log(expo), encoder)


def fit_portfolio(df, *, response: str, factors: Sequence[str], numeric: Sequence[str] = (),
                  exposure: str | None = None, weights: str | None = None,
                  power: float | str | Sequence[float] = 1.5,
                  alpha: float = 1.0, folds: int = 5, select: str = "lambda_1se", seed: int = 0,
                  n_jobs: int | None = None, relax: bool = False,
                  progress: Callable[[int, int], None] | None = None,
                  source: str = "data", structure: dict | None = None) -> PortfolioFit:
    """Encode rating factors and fit an ``HDTweedieCV`` with one group per input.

    Parameters
    ----------
    df : pandas.DataFrame
        The portfolio.
    response : str
        Response column: the loss amount when ``exposure`` is given (with
        ``log(exposure)`` as offset), else the pure premium.
    factors, numeric : sequence of str
        Rating factors (one-hot against the base level with the most
        exposure or weight) and numeric inputs, e.g. from :func:`choose_columns`.
    exposure, weights : str, optional
        Exposure column (positive) and observation weight column.
    power : float, "auto" or sequence of float
        Tweedie power in [1, 2]; or powers in (1, 2] (``"auto"``: 1.1, ...,
        1.9) to choose from by held-out log-likelihood (see ``HDTweedieCV``).
    alpha : float
        Elastic-net mixing in (0, 1].
    folds : int
        Cross-validation folds.
    select : {"lambda_1se", "lambda_min"}
        The lambda of the model.
    seed : int
        Seed of the random folds.
    n_jobs : int, optional
        Jobs fitted in parallel (joblib).
    relax : bool
        Refit the selected inputs without penalty.
    progress : callable, optional
        ``progress(done, total)`` after each CV job (the full path and each
        fold, at each power), possibly from worker threads.
    source : str
        The table's name in messages.
    structure : dict, optional
        Rating-structure options of :class:`~hdtweedie.FactorEncoder`
        (``bands``, ``min_exposure``, ``missing_level``, ``interactions``).

    Returns
    -------
    PortfolioFit

    Raises
    ------
    ValueError
        As :func:`encode_portfolio`, and for a bad power.
    TypeError
        As :func:`encode_portfolio`.
    """
    from . import HDTweedieCV

    data = encode_portfolio(df, response=response, factors=factors, numeric=numeric,
                            exposure=exposure, weights=weights, source=source, structure=structure)
    cv = HDTweedieCV(power=power, alpha=alpha, n_folds=folds, select=select,
                     groups=list(data.encoder.groups_), random_state=seed, n_jobs=n_jobs,
                     relax=bool(relax))
    start = time.perf_counter()
    cv.fit(data.X, data.y, sample_weight=data.sample_weight, offset=data.offset, progress=progress)
    return PortfolioFit(cv, data.encoder, int(data.X.shape[0]), int(data.X.shape[1]),
                        time.perf_counter() - start)


def selected_groups(est) -> list:
    """Group labels with a non-zero coefficient in ``coef_``.

    Parameters
    ----------
    est : HDTweedie or HDTweedieCV
        A fitted estimator.

    Returns
    -------
    list
        The labels, in the estimator's group order.
    """
    coef = np.asarray(est.coef_)
    index = np.asarray(est.group_index_)
    return [label for g, label in enumerate(est.group_labels_) if np.any(coef[index == g] != 0)]


def selection_summary(cv) -> dict:
    """What a cross-validated fit selected.

    Parameters
    ----------
    cv : HDTweedieCV
        A fitted model.

    Returns
    -------
    dict
        ``lambda``, ``select`` (how it was chosen), ``loss``, ``cv_mean`` and
        ``cv_std`` at that lambda, ``selected`` and ``dropped`` group labels,
        ``power`` and ``dispersion`` (None when not estimated), and
        ``powers``: the powers compared (None for one power).
    """
    selected = selected_groups(cv)
    pos = int(np.argmin(np.abs(np.asarray(cv.lambdas_) - cv.lambda_)))
    powers = getattr(cv, "powers_", None)
    return {"lambda": float(cv.lambda_), "select": cv.select,
            "loss": getattr(cv, "loss_", getattr(cv, "loss", None)) or "deviance",
            "power": float(getattr(cv, "power_", cv.power)),
            "dispersion": getattr(cv, "dispersion_", None),
            "powers": None if powers is None else [float(p) for p in powers],
            "cv_mean": float(cv.cv_mean_[pos]), "cv_std": float(cv.cv_std_[pos]),
            "selected": selected, "dropped": [g for g in cv.group_labels_ if g not in selected]}
