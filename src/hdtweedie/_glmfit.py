"""Unpenalised log-link Tweedie GLM fits on chosen columns: the design, its rank and the solve."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._distribution import intercept_only_fit
from ._relax import refit_unpenalized

# A column whose distance from the span of the intercept and the earlier columns is below
# this fraction of its norm is aliased (R's qr() tolerance in glm.fit).
RANK_TOL = 1e-7


def dense_columns(X, cols: np.ndarray) -> np.ndarray:
    """Columns ``cols`` of a dense or sparse X as a dense float64 array."""
    sub = X[:, cols]
    return sub.toarray() if sp.issparse(sub) else np.asarray(sub, dtype=np.float64)


def aliased_columns(A: np.ndarray) -> list[int]:
    """Positions of the columns of ``A`` that are linear combinations of earlier columns.

    As R's ``glm``: unpivoted QR, so the later of two collinear columns is the one named.
    """
    norms = np.linalg.norm(A, axis=0)
    r = np.abs(np.diag(np.linalg.qr(A, mode="r")))
    return [j for j in range(A.shape[1]) if r[j] <= RANK_TOL * max(norms[j], 1e-300)]


def check_full_rank(A: np.ndarray, names: list[str]) -> None:
    """Raise ValueError naming the aliased columns when ``A`` (intercept first) is singular.

    Parameters
    ----------
    A : ndarray of shape (n_rows, k)
        Intercept column then the model's columns, rows of positive weight.
    names : list of str
        One name per column of ``A``.

    Raises
    ------
    ValueError
        If some columns are linear combinations of the intercept and earlier columns.
    """
    if A.shape[0] < A.shape[1]:
        raise ValueError(f"X: {A.shape[1]} coefficients (with the intercept) but only {A.shape[0]} "
                         "rows of positive weight; the model is not identifiable")
    bad = aliased_columns(A)
    if not bad:
        return
    details = []
    for j in bad[:5]:
        keep = [i for i in range(j) if i not in bad]
        comb = np.linalg.lstsq(A[:, keep], A[:, j], rcond=None)[0]
        scale = np.abs(comb).max() if comb.size else 0.0
        parts = [names[keep[i]] for i in np.flatnonzero(np.abs(comb) > 1e-8 * max(scale, 1.0))]
        details.append(f"{names[j]!r} = combination of {parts}" if parts else f"{names[j]!r} is zero")
    raise ValueError(
        f"X: singular design, column(s) {[names[j] for j in bad]} are linearly dependent on the "
        f"intercept and earlier columns ({'; '.join(details)}); drop them (or a base level of "
        "each factor) and refit"
    )


def fit_columns(X, y: np.ndarray, w: np.ndarray, offset: np.ndarray, power: float, cols,
                tol: float = 1e-12, max_iter: int = 100, start=None) -> tuple[float, np.ndarray]:
    """Maximum-likelihood intercept and coefficients over columns ``cols`` of X.

    Newton's method (``_relax.refit_unpenalized``) from ``start`` = ``(intercept, coef)``,
    by default the intercept-only maximum-likelihood fit and zero coefficients.
    Returns ``(intercept, coef)`` with zeros outside ``cols``.
    """
    cols = np.asarray(cols, dtype=np.intp)
    if start is None:
        b0 = intercept_only_fit(y, w, offset, power)
        b = np.zeros(X.shape[1])
    else:
        b0, b = start
    return refit_unpenalized(X, y, w, offset, power, cols, b0, b, tol=tol, max_iter=max_iter)
