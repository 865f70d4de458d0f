r"""Held-out Tweedie log-likelihood along the lambda path, for choosing the power with lambda.

The unit deviance cannot compare powers: its scale changes with ``p`` and it leaves out the
normalising term of the density, so it is not a likelihood and its minimiser in ``p`` is not
the likelihood's.  Powers are compared by the log-likelihood instead, with the dispersion
estimated from the training rows only.  For one fold, one power and one lambda:

* ``phi`` is the maximum-likelihood dispersion of the training rows given their fitted means
  (:func:`hdtweedie.tweedie.dispersion_mle`: row ``i`` has dispersion ``phi / w_i``);
* the held-out loss is the mean over the test rows of positive weight of
  ``-log f(y_i; mu_i, phi / w_i, p)``.  The weight enters through the dispersion, as in the
  likelihood the fit maximises, not as a second factor on the log density.

Folds are combined weighted by their number of such rows, so the CV mean is minus the
held-out log-likelihood per row.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from . import _path
from ._options import HELD_OUT_BLOCK_BYTES, FitData, PathOptions
from ._tweedie_phi import PowerLikelihood, fit_dispersion
from .tweedie import logpdf

__all__ = ["DEFAULT_POWERS", "check_power_grid", "fold_loglik_path", "path_dispersions",
           "solution_dispersion"]

#: The powers ``power="auto"`` compares: 1.1, 1.2, ..., 1.9.
DEFAULT_POWERS = tuple(round(1.1 + 0.1 * i, 1) for i in range(9))


class DispersionWarning(UserWarning):
    """The maximum-likelihood dispersion of a fitted model could not be found."""


def check_power_grid(power) -> np.ndarray | None:
    """The powers to compare, or None for a single power (checked where it is used).

    Parameters
    ----------
    power : float, "auto" or sequence of float
        ``"auto"`` is :data:`DEFAULT_POWERS`.

    Returns
    -------
    ndarray or None
        The powers, sorted increasing.

    Raises
    ------
    TypeError, ValueError
        Naming power and echoing the bad value.
    """
    if isinstance(power, str):
        if power != "auto":
            raise ValueError(f"power must be a number in [1, 2], a list of powers or 'auto', "
                             f"got {power!r}")
        return np.array(DEFAULT_POWERS)
    if isinstance(power, bytes) or np.ndim(power) == 0:
        return None
    values = list(np.asarray(power, dtype=object).ravel()) if np.ndim(power) == 1 else None
    if values is None:
        raise ValueError(f"power must be a number or a 1-d list of powers, got shape "
                         f"{np.shape(power)}")
    if not values:
        raise ValueError("power is an empty list; give at least one power in (1, 2]")
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(f"power: every power must be a number, got {v!r} in {list(power)!r}")
        if not (math.isfinite(v) and 1 < v <= 2):
            raise ValueError(f"power: every power must be finite and in (1, 2] (the dispersion "
                             f"has no maximum-likelihood estimate at 1), got {v!r}")
    grid = np.array(values, dtype=np.float64)
    if np.unique(grid).size != grid.size:
        raise ValueError(f"power: the powers must be distinct, got {list(power)!r}")
    return np.sort(grid)


def path_dispersions(y: np.ndarray, mu: np.ndarray, w: np.ndarray, power: float,
                     start: float | None = None) -> np.ndarray:
    """Maximum-likelihood dispersion at each column of fitted means, warm-started along the path.

    Parameters
    ----------
    y, w : ndarray of shape (n,)
        Responses and prior weights, rows of positive weight only, some ``y > 0``.
    mu : ndarray of shape (n, n_lambdas)
    power : float
        In (1, 2].
    start : float or None, default None
        The start for the first column: the last finite dispersion of the columns
        before it, when the path is taken in blocks.

    Returns
    -------
    ndarray of shape (n_lambdas,)
        NaN where the means are not finite or no finite maximum exists.
    """
    out = np.full(mu.shape[1], np.nan)
    for j in range(mu.shape[1]):
        m = mu[:, j]
        if not np.all(np.isfinite(m) & (m > 0)):
            continue
        # fit_dispersion's search can fail when it lands on an exactly zero score; other
        # starts land elsewhere.
        for first in (start, None, *(None if start is None else start * f for f in (1.01, 0.99, 1.1))):
            try:
                out[j], _ = fit_dispersion(y, m, w, power, start=first)
                break
            except (ValueError, ArithmeticError):
                continue
        start = out[j] if np.isfinite(out[j]) else start
    return out


def _heldout_loss(y, mu, w, phi, power: float) -> np.ndarray:
    """Mean of ``-log f(y_i; mu_ij, phi_j / w_i, power)`` per column ``j``; NaN where undefined."""
    out = np.full(mu.shape[1], np.nan)
    for j in np.flatnonzero(np.isfinite(phi)):
        m = mu[:, j]
        if not np.all(np.isfinite(m) & (m > 0)):
            continue
        if power < 2 and np.any(y > 0):  # the series pass of the dispersion fit, at one phi
            total = PowerLikelihood(y, m, w, power)(math.log(phi[j]))[0]
        else:
            total = float(np.sum(logpdf(y, m, phi[j] / w, power)))
        out[j] = -total / y.size if math.isfinite(total) else np.nan
    return out


def fold_loglik_path(data: FitData, opts: PathOptions, train: np.ndarray, test: np.ndarray):
    """Held-out negative log-likelihood per row along the path, for one fold.

    Parameters
    ----------
    data : FitData
        The full training data.
    opts : PathOptions
        With user lambdas (the full fit's grid at this power, in (1, 2]).
    train, test : ndarray of int
        Rows fitted and rows scored.

    Returns
    -------
    losses : ndarray of shape (n_lambdas,)
        As described in :mod:`hdtweedie._power_cv`; NaN past the lambdas reached.
    n_reached : int
    message : str or None
        Why the fold could not be fitted (then all NaN).
    """
    out = np.full(opts.n_lambdas, np.nan)
    res, why = _path.solve_fold(data, opts, train)
    if res is None:
        return out, 0, why
    k = res.lambdas.size
    # Rows of weight 0 have no likelihood (their dispersion phi / 0 is infinite).
    fit_idx, held_idx = train[data.w[train] > 0], test[data.w[test] > 0]
    y_fit, w_fit = data.y[fit_idx], data.w[fit_idx]
    y_held, w_held = data.y[held_idx], data.w[held_idx]
    # The fitted means a few lambdas at a time, X read in row blocks: copies of the
    # fold's rows or (rows, lambdas) matrices in full would outweigh X on tall data.
    # Each lambda's dispersion and loss depend on its column alone, and on the
    # previous dispersion as a start, carried over from block to block.
    step = max(1, HELD_OUT_BLOCK_BYTES // (8 * max(fit_idx.size + held_idx.size, 1)))
    start = None
    for j in range(0, k, step):
        b0, B = res.intercepts[j:j + step], res.coefs[:, j:j + step]
        with np.errstate(over="ignore"):
            mu_fit = data.linear_predictor(fit_idx, b0, B)
            np.exp(mu_fit, out=mu_fit)
            mu_held = data.linear_predictor(held_idx, b0, B)
            np.exp(mu_held, out=mu_held)
        phi = path_dispersions(y_fit, mu_fit, w_fit, opts.power, start=start)
        found = phi[np.isfinite(phi)]
        start = found[-1] if found.size else start
        if y_held.size:
            out[j:j + phi.size] = _heldout_loss(y_held, mu_held, w_held, phi, opts.power)
    return out, k, None


def solution_dispersion(X, y: np.ndarray, w: np.ndarray, offset: np.ndarray, power: float,
                        intercept: float, coef: np.ndarray, stacklevel: int = 2) -> float | None:
    """Maximum-likelihood dispersion of the training rows at one solution.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n, n_features)
    y, w, offset : ndarray of shape (n,)
        Checked response, prior weights and offset.
    power : float
    intercept : float
    coef : ndarray of shape (n_features,)
    stacklevel : int
        Of the warning, counted from the caller.

    Returns
    -------
    float or None
        None at ``power = 1`` (the Poisson likelihood fixes no dispersion: ``y / phi`` must
        be whole), and with a :class:`DispersionWarning` when no finite maximum exists.
    """
    if power == 1:
        return None
    keep = w > 0
    # One product with X, then the rows of positive weight: X[keep] would copy X.
    with np.errstate(over="ignore"):
        mu = np.exp(offset + intercept + np.asarray(X @ coef).reshape(-1))[keep]
    phi = path_dispersions(y[keep], mu[:, None], w[keep], power)[0]
    if not np.isfinite(phi):
        warnings.warn("the maximum-likelihood dispersion of the fit has no finite value; none is "
                      "recorded", DispersionWarning, stacklevel=stacklevel + 1)
        return None
    return float(phi)
