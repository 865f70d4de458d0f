r"""The distribution of a risk's outcome under a model file: intervals, P(Y = 0), simulation.

A file that records its ``dispersion`` ``phi`` describes, for a risk with inputs ``x``,
exposure ``e`` and prior weight ``w``,

::

    Y ~ Tweedie(mean = e exp(b0 + x . b), dispersion = phi / w, power = p)

which is the model the fit maximised: the exposure enters as the offset ``log e`` (it scales
the mean only; a compound Poisson total over ``e`` years keeps the dispersion), and the
weight as the prior weight of ``sample_weight`` (row ``i`` has dispersion ``phi / w_i``).  A
model of the pure premium fitted with ``sample_weight=exposure`` and no offset is the same
formula with ``weight=exposure`` and no exposure: its intervals are those of the pure premium.
The distribution functions are those of :mod:`hdtweedie.tweedie` (numpy only).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .. import tweedie
from ._errors import ModelFileError

__all__ = ["PredictionInterval", "outcome_law", "prediction_interval", "prob_zero", "sample"]


@dataclass(frozen=True)
class PredictionInterval:
    """Equal-tailed prediction intervals of the outcome of each risk.

    Attributes
    ----------
    lower, upper : numpy.ndarray
        The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of ``Y``; ``lower`` is 0
        when the mass at zero exceeds ``(1 - level) / 2``.
    mean : numpy.ndarray
        The prediction ``E Y`` (as ``predict``).
    dispersion : numpy.ndarray
        ``phi / weight`` of each row.
    level : float
    """

    lower: np.ndarray
    upper: np.ndarray
    mean: np.ndarray
    dispersion: np.ndarray
    level: float


def _check_level(level) -> float:
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, numbers.Real):
        raise TypeError(f"level must be a number in (0, 1), got {level!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(level)


def _check_weight(weight, n: int) -> np.ndarray:
    if weight is None:
        return np.ones(n)
    if isinstance(weight, (bool, np.bool_, str, bytes)):
        raise TypeError(f"weight must be a positive number or one per row, got {weight!r}")
    try:
        w = np.asarray(weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"weight must be a positive number or one per row, got {weight!r}") from None
    if w.ndim > 1 or (w.ndim == 1 and w.size != n):
        raise ValueError(f"weight must be one number or {n} (one per row), got shape {w.shape}")
    bad = ~(np.isfinite(w) & (w > 0))
    if bad.any():
        raise ValueError(f"weight must be finite and > 0, got {float(w[bad].flat[0])!r}")
    return np.broadcast_to(w, (n,)).copy()


def outcome_law(model, records, exposure=None, weight=None, unknown=None):
    """Mean, dispersion and power of each risk's ``Y`` (see :mod:`hdtweedie.scoring._intervals`).

    Parameters
    ----------
    model : ScoringModel
    records, exposure, unknown
        As in ``ScoringModel.predict`` (rows that cannot be scored raise).
    weight : float or array-like, optional
        Prior weight of each row, finite and > 0 (default 1).

    Returns
    -------
    mean, phi : numpy.ndarray
    power : float

    Raises
    ------
    ModelFileError
        If the file records no dispersion.
    ValueError, TypeError
        For records, exposures or weights that cannot be used.
    """
    if model.dispersion is None:
        raise ModelFileError(
            f"model file {model.source!r} records no dispersion, so the distribution of the "
            "outcome is unknown: export it from a fitted HDTweedieCV, or pass the training data "
            "(X=, y=) to export")
    mean = np.asarray(model.predict(records, exposure, unknown=unknown, errors="raise"), dtype=np.float64)
    phi = model.dispersion / _check_weight(weight, mean.size)
    return mean, phi, model.power


def prediction_interval(model, records, exposure=None, level=0.9, weight=None,
                        unknown=None) -> PredictionInterval:
    """Equal-tailed interval of ``Y`` per row, from :func:`hdtweedie.tweedie.ppf`.

    Parameters
    ----------
    model : ScoringModel
    records, exposure : object
        As in :func:`outcome_law`.
    level : float
        Coverage, in (0, 1).
    weight, unknown : optional
        As in :func:`outcome_law`.

    Returns
    -------
    PredictionInterval

    Raises
    ------
    ModelFileError, ValueError, TypeError
        As :func:`outcome_law`, and for a bad level.
    """
    level = _check_level(level)
    mean, phi, p = outcome_law(model, records, exposure, weight, unknown)
    lower, upper = np.zeros(mean.size), np.zeros(mean.size)
    pos = mean > 0  # a zero exposure has Y = 0
    if pos.any():
        q = np.array([(1 - level) / 2, (1 + level) / 2])
        bounds = tweedie.ppf(q[:, None], mean[pos], phi[pos], p)
        lower[pos], upper[pos] = bounds
    return PredictionInterval(lower=lower, upper=upper, mean=mean, dispersion=phi, level=level)


def prob_zero(model, records, exposure=None, weight=None, unknown=None) -> np.ndarray:
    """``P(Y = 0)`` per row: ``exp(-lambda)``, ``lambda = mean^(2-p) / (phi (2-p))`` for p < 2.

    Parameters
    ----------
    model : ScoringModel
    records, exposure, weight, unknown
        As in :func:`outcome_law`.

    Returns
    -------
    numpy.ndarray
        1 for a zero exposure; 0 at power 2.

    Raises
    ------
    ModelFileError, ValueError, TypeError
        As :func:`outcome_law`.
    """
    mean, phi, p = outcome_law(model, records, exposure, weight, unknown)
    out = np.ones(mean.size)
    pos = mean > 0
    if pos.any():
        out[pos] = tweedie.cdf(0.0, mean[pos], phi[pos], p)
    return out


def sample(model, records, n: int, exposure=None, weight=None, random_state=None,
           unknown=None) -> np.ndarray:
    """``n`` simulated outcomes of each row, from :func:`hdtweedie.tweedie.rvs`.

    Parameters
    ----------
    model : ScoringModel
    records : object
        As in :func:`outcome_law`.
    n : int
        Draws per row, at least 1.
    exposure, weight : optional
        As in :func:`outcome_law`.
    random_state : None, int, SeedSequence or numpy Generator
        Seed; the same seed gives the same draws.
    unknown : {None, "error", "base"}
        As in :func:`outcome_law`.

    Returns
    -------
    numpy.ndarray of shape (n_rows, n)

    Raises
    ------
    ModelFileError, ValueError, TypeError
        As :func:`outcome_law`, and for a bad ``n`` or ``random_state``.
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be a whole number of draws, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n!r}")
    mean, phi, p = outcome_law(model, records, exposure, weight, unknown)
    out = np.zeros((mean.size, int(n)))
    pos = mean > 0
    if pos.any():
        out[pos] = tweedie.rvs(mean[pos][:, None], phi[pos][:, None], p, size=(int(pos.sum()), int(n)),
                               random_state=random_state)
    return out
