"""Tweedie unit deviance for powers in [1, 2], with the Poisson and Gamma limits taken exactly."""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy


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
    """Weighted mean Tweedie unit deviance."""
    d = unit_deviance(y, mu, power)
    return float(np.average(d, weights=sample_weight))


def d2_score(y, mu, power, sample_weight=None):
    """Fraction of Tweedie deviance explained: ``1 - D(y, mu) / D(y, weighted mean of y)``."""
    y = np.asarray(y, dtype=np.float64)
    ybar = np.average(y, weights=sample_weight)
    num = tweedie_deviance(y, mu, power, sample_weight)
    den = tweedie_deviance(y, np.full_like(y, ybar), power, sample_weight)
    if den == 0:
        return 1.0 if num == 0 else float("-inf")
    return 1.0 - num / den


def penalized_objective(X, y, w, offset, b0, b, power, lam, alpha, gs, pf):
    """The objective of ``HDTweedie`` (weights normalised to sum to one).

    The loss is the Tweedie negative log-likelihood up to a constant in ``y``;
    for the limits ``p = 1`` and ``p = 2`` the divergent constants are dropped.
    """
    wn = np.asarray(w, dtype=np.float64) / np.sum(w)
    eta = offset + b0 + X @ b
    if power == 1:
        loss = -y * eta + np.exp(eta)
    elif power == 2:
        loss = y * np.exp(-eta) + eta
    else:
        loss = (y * np.exp(-(power - 1) * eta) / (power - 1)
                + np.exp((2 - power) * eta) / (2 - power))
    pen = 0.0
    for g in range(gs.n_groups):
        bg = b[gs.cols[gs.ptr[g]:gs.ptr[g + 1]]]
        nrm = np.sqrt(bg @ bg)
        pen += alpha * pf[g] * nrm + (1 - alpha) / 2 * (bg @ bg)
    return float(wn @ loss + lam * pen)
