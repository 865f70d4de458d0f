"""Unpenalised refit of selected columns (the "relaxed" lasso)."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from ._distribution import loss, loss_derivatives
from ._path import ConvergenceWarning


def _loss(eta, y, w, power):
    return float(w @ loss(y, eta, power))


def refit_unpenalized(X, y, w, offset, power, cols, b0, b, tol=1e-12, max_iter=100):
    """Newton's method on the unpenalised Tweedie loss over columns ``cols`` and the intercept.

    Starts from ``(b0, b[cols])`` (the penalised solution) with step halving, so the
    loss never increases.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n, p)
    y, w, offset : ndarray of shape (n,)
        Response, raw weights (normalised here) and offset.
    power : float
    cols : ndarray of int
        Columns to refit.
    b0 : float
    b : ndarray of shape (p,)
        Starting point.
    tol : float
        Stop when no parameter moves more than this.
    max_iter : int
        Newton steps; warns ``ConvergenceWarning`` when they run out.

    Returns
    -------
    intercept : float
    coef : ndarray of shape (p,)
        Zero outside ``cols``.
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
        neg_grad, curvature = loss_derivatives(y, eta, power)
        grad = A.T @ (wn * neg_grad)
        hess = (A * (wn * curvature)[:, None]).T @ A
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
