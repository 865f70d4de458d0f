"""The Tweedie family for powers in [1, 2]: loss, its derivatives, deviance and D².

The one owner of these formulas, with the Poisson and Gamma limits taken exactly;
it also chooses between compiled and numpy code, so callers never branch on the
power.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from . import _cd


def _power_diff(a, b, t):
    """``(a^t - b^t) / t`` without cancellation as ``t -> 0`` (``a >= 0``, ``b > 0``)."""
    if t == 0:
        with np.errstate(divide="ignore"):
            return np.log(a / b)
    bt = np.power(b, t)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = bt * np.expm1(t * np.log(a / b)) / t
    return np.where(a > 0, out, -bt / t)


def unit_deviance(y, mu, power):
    """Tweedie unit deviance ``d(y, mu)`` per row, for ``power`` in [1, 2].

    ::

        d = 2 * ( y (y^(1-p) - mu^(1-p)) / (1-p) - (y^(2-p) - mu^(2-p)) / (2-p) )

    (the formula of R's ``cv.HDtweedie``), with each difference of powers
    evaluated through ``expm1`` so that it stays accurate as ``p`` approaches 1
    or 2; at ``p = 1`` it is the Poisson deviance ``2 (y log(y/mu) - y + mu)``
    and at ``p = 2`` the Gamma deviance ``2 (log(mu/y) + y/mu - 1)``.

    Parameters
    ----------
    y, mu : array-like
        Broadcast together.
    power : float

    Returns
    -------
    ndarray
    """
    y = np.asarray(y, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    y, mu = np.broadcast_arrays(y, mu)
    if power == 1:
        return 2.0 * (xlogy(y, y) - xlogy(y, mu) - y + mu)
    if power == 2:
        return 2.0 * (np.log(mu / y) + y / mu - 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        first = np.where(y > 0, y * _power_diff(y, mu, 1.0 - power), 0.0)
        return 2.0 * (first - _power_diff(y, mu, 2.0 - power))


def tweedie_deviance(y, mu, power, sample_weight=None):
    """Weighted mean Tweedie unit deviance.

    Parameters
    ----------
    y, mu : array-like of shape (n,)
    power : float
    sample_weight : array-like of shape (n,), optional

    Returns
    -------
    float
    """
    d = unit_deviance(y, mu, power)
    return float(np.average(d, weights=sample_weight))


def d2_score(y, mu, power, sample_weight=None):
    """Fraction of Tweedie deviance explained: ``1 - D(y, mu) / D(y, weighted mean of y)``.

    ``D`` is :func:`tweedie_deviance` (same arguments); the result is a float,
    1 for a perfect fit, ``-inf`` when ``y`` is constant and ``mu`` is not.
    """
    y = np.asarray(y, dtype=np.float64)
    ybar = np.average(y, weights=sample_weight)
    num = tweedie_deviance(y, mu, power, sample_weight)
    den = tweedie_deviance(y, np.full_like(y, ybar), power, sample_weight)
    if den == 0:
        return 1.0 if num == 0 else float("-inf")
    return 1.0 - num / den


def loss(y, eta, power):
    """Per-row Tweedie negative log-likelihood in ``eta = log(mu)``, up to a constant in ``y``.

    ::

        y exp(-(p-1) eta) / (p-1) + exp((2-p) eta) / (2-p)

    with the divergent constants dropped at the limits: ``exp(eta) - y eta``
    for ``p = 1`` and ``y exp(-eta) + eta`` for ``p = 2``.

    Parameters
    ----------
    y, eta : array-like
        Response and linear predictor (broadcast together).
    power : float
        Tweedie power in [1, 2].

    Returns
    -------
    ndarray
    """
    if power == 1:
        return np.exp(eta) - y * eta
    if power == 2:
        return eta + y * np.exp(-eta)
    a, b = power - 1, 2 - power
    return y * np.exp(-a * eta) / a + np.exp(b * eta) / b


def loss_derivatives(y, eta, power):
    """Minus the first and the second derivative of :func:`loss` in ``eta``, per row.

    The IRLS quantities: with ``r1 = y exp(-(p-1) eta)`` and ``r2 = exp((2-p) eta)``,
    ``-dL/deta = r1 - r2`` and ``d2L/deta2 = (p-1) r1 + (2-p) r2`` (exact at the limits).

    Parameters
    ----------
    y, eta : ndarray
    power : float

    Returns
    -------
    neg_gradient, hessian : ndarray
    """
    r1 = y * np.exp(-(power - 1) * eta)
    r2 = np.exp((2 - power) * eta)
    return r1 - r2, (power - 1) * r1 + (2 - power) * r2


def intercept_only_fit(y, w, offset, power) -> float:
    """The maximum-likelihood intercept of the model ``eta = offset + b0``.

    ``exp(b0) = sum w y exp((1-p) offset) / sum w exp((2-p) offset)``.

    Parameters
    ----------
    y, w, offset : ndarray of shape (n,)
    power : float

    Returns
    -------
    float
    """
    num = np.sum(w * y * np.exp((1 - power) * offset))
    return float(np.log(num / np.sum(w * np.exp((2 - power) * offset))))


def mean_deviance_path(y, w, eta, power):
    """Weighted mean unit deviance of each column of ``eta`` (held-out scores along a path).

    Entries whose deviance is not finite are left out of the mean (a column with
    none left gets NaN).  For ``1 < p < 2`` this runs compiled, without the GIL and
    without ``(n, n_lambdas)`` temporaries.

    Parameters
    ----------
    y, w : ndarray of shape (n,)
        Response and weights.
    eta : ndarray of shape (n, m)
        Linear predictors, one column per lambda.
    power : float

    Returns
    -------
    ndarray of shape (m,)
    """
    if 1 < power < 2:
        return _cd.cv_deviance(np.ascontiguousarray(y, dtype=np.float64),
                               np.ascontiguousarray(w, dtype=np.float64),
                               np.ascontiguousarray(eta, dtype=np.float64), float(power))
    with np.errstate(over="ignore"):
        mu = np.exp(eta)
    d = unit_deviance(np.asarray(y)[:, None], mu, power)
    d[~np.isfinite(d)] = np.nan
    return weighted_nanmean(d, np.asarray(w, dtype=np.float64)[:, None], axis=0)


def weighted_nanmean(values, weights, axis):
    """Weighted mean skipping NaN (R's ``weighted.mean(..., na.rm=TRUE)``).

    Parameters
    ----------
    values, weights : ndarray
        Broadcast together.
    axis : int

    Returns
    -------
    ndarray
        NaN where no value has weight.
    """
    ok = ~np.isnan(values)
    w = np.where(ok, weights, 0.0)
    num = np.where(ok, values, 0.0) * w
    with np.errstate(invalid="ignore", divide="ignore"):
        return num.sum(axis=axis) / w.sum(axis=axis)


def penalized_objective(X, y, w, offset, b0, b, power, lam, alpha, gs, pf):
    """The objective of ``HDTweedie`` (weights normalised to sum to one).

    The loss is :func:`loss`, the Tweedie negative log-likelihood up to a
    constant in ``y``.

    Parameters
    ----------
    X : ndarray or sparse matrix
    y, w, offset : ndarray
    b0 : float
    b : ndarray
    power, lam, alpha : float
    gs : GroupStructure
    pf : ndarray

    Returns
    -------
    float
    """
    wn = np.asarray(w, dtype=np.float64) / np.sum(w)
    eta = offset + b0 + X @ b
    pen = 0.0
    for g in range(gs.n_groups):
        bg = b[gs.cols[gs.ptr[g]:gs.ptr[g + 1]]]
        nrm = np.sqrt(bg @ bg)
        pen += alpha * pf[g] * nrm + (1 - alpha) / 2 * (bg @ bg)
    return float(wn @ loss(y, eta, power) + lam * pen)
