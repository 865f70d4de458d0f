"""Unpenalised refit of selected columns (the "relaxed" lasso)."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from ._path import ConvergenceWarning


def _loss(eta, y, w, power):
    """Weighted Tweedie negative log-likelihood up to a constant in y (limits exact)."""
    if power == 1:
        per_row = np.exp(eta) - y * eta
    elif power == 2:
        per_row = y * np.exp(-eta) + eta
    else:
        per_row = (y * np.exp(-(power - 1) * eta) / (power - 1)
                   + np.exp((2 - power) * eta) / (2 - power))
    return float(w @ per_row)


def refit_unpenalized(X, y, w, offset, power, cols, b0, b, tol=1e-12, max_iter=100):
    """Newton's method on the unpenalised Tweedie loss over columns ``cols`` and the intercept.

    Starts from ``(b0, b[cols])`` (the penalised solution) with step halving, so the
    loss never increases.  Returns ``(intercept, coef)`` with zeros outside ``cols``.
    """
    p = X.shape[1]
    Xs = X[:, cols]
    Xs = Xs.toarray() if sp.issparse(Xs) else np.asarray(Xs)
    A = np.column_stack([np.ones(X.shape[0]), Xs])
    wn = w / w.sum()
    theta = np.concatenate([[b0], np.asarray(b)[cols]])
    eta = offset + A @ theta
    cur = _loss(eta, y, wn, power)
    for _ in range(max_iter):
        r1 = wn * y * np.exp(-(power - 1) * eta)
        r2 = wn * np.exp((2 - power) * eta)
        grad = A.T @ (r1 - r2)
        hess = (A * ((power - 1) * r1 + (2 - power) * r2)[:, None]).T @ A
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        t = 1.0
        while True:
            cand = theta + t * step
            eta_c = offset + A @ cand
            new = _loss(eta_c, y, wn, power)
            if np.isfinite(new) and new <= cur + 1e-15 * abs(cur):
                break
            t /= 2
            if t < 1e-10:
                break
        if t < 1e-10:
            break
        theta, eta, done = cand, eta_c, np.max(np.abs(t * step)) < tol
        cur = new
        if done:
            break
    else:
        warnings.warn(f"the unpenalised refit did not converge in {max_iter} Newton steps",
                      ConvergenceWarning, stacklevel=3)
    coef = np.zeros(p)
    coef[cols] = theta[1:]
    return float(theta[0]), coef
