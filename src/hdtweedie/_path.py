"""The lambda path: options, standardisation, the kernel call and its results."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import _cd
from ._checks import check_scalar
from ._groups import GroupStructure

# Largest standardised-column variance treated as zero (the reference's threshold).
ZERO_VARIANCE = 1e-16
DEFAULT_MAX_ITER = 300_000_000
MAX_SPARSE_MEAN_RATIO = 1e5
# Strong sets of at most this many columns are solved in covariance mode (at most
# the kernel's limit _cd.GRAM_MAX); 0 forces the residual mode everywhere.
GRAM_MAX = _cd.GRAM_MAX
# In covariance mode, sparse strong sets with at least this fraction of entries stored
# are unpacked into dense row blocks for X_S' H X_S; sparser ones go entry by entry.
SPARSE_UNPACK_DENSITY = _cd.UNPACK_DENSITY


@dataclass
class PathResult:
    """A fitted path on the original scale of X.

    ``lambdas``, ``intercepts`` have one entry per lambda reached; ``coefs`` is
    (n_features, n_lambdas).  ``status`` is 0 or R's ``-k``/``-10000-k`` code.
    """

    lambdas: np.ndarray
    intercepts: np.ndarray
    coefs: np.ndarray
    df: np.ndarray
    n_passes: int
    status: int
    lambda_max: float
    n_clipped: int
    # (message, category) pairs not yet emitted (``solve(..., warn=False)``).
    warnings: tuple = ()

    def emit_warnings(self, stacklevel=2):
        """Emit the warnings that ``solve(..., warn=False)`` held back."""
        for message, category in self.warnings:
            warnings.warn(message, category, stacklevel=stacklevel + 1)


def status_message(status: int, max_iter: int, pmax: int) -> str | None:
    """The words for a non-zero status code, or None."""
    if status == 0:
        return None
    if status <= -10000:
        k = -10000 - status
        return (f"the number of groups with non-zero coefficients along the path exceeds "
                f"pmax={pmax} at the {k}th lambda; solutions for the {k - 1} larger lambdas "
                f"are returned (status {status})")
    k = -status
    return (f"convergence for the {k}th lambda was not reached after max_iter={max_iter} "
            f"passes; solutions for the {k - 1} larger lambdas are returned (status {status})")


def resolve_lambdas(lambdas, n_lambdas, lambda_min_ratio, n_samples, n_features):
    """Return ``(user_lambdas or None, n_lambdas, lambda_min_ratio)`` as the kernel wants them."""
    if lambdas is not None:
        try:
            ulam = np.asarray(lambdas, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise TypeError(f"lambdas must be numbers, got {lambdas!r}") from None
        if ulam.size == 0:
            raise ValueError("lambdas is empty")
        if not np.all(np.isfinite(ulam)):
            raise ValueError(f"lambdas must be finite, got {ulam[~np.isfinite(ulam)][:3]}")
        if np.any(ulam < 0):
            raise ValueError(f"lambdas must be non-negative, got {ulam[ulam < 0][:3]}")
        ulam = np.ascontiguousarray(np.sort(ulam)[::-1])
        return ulam, ulam.size, 1.0
    n_lambdas = check_scalar(n_lambdas, "n_lambdas", int, low=1)
    if lambda_min_ratio is None:
        lambda_min_ratio = 0.001 if n_samples >= n_features else 0.05
    f = check_scalar(lambda_min_ratio, "lambda_min_ratio", float, low=0, low_open=True)
    if f >= 1:
        raise ValueError(f"lambda_min_ratio must be < 1, got {f!r}")
    return None, n_lambdas, max(f, 1e-6)


def standardization(X, feature_names):
    """Plain (unweighted, divide-by-n) column means and scales; error on a constant column."""
    n = X.shape[0]
    if sp.issparse(X):
        mean = np.asarray(X.mean(axis=0)).ravel()
        # Centred sums over stored entries plus the implicit zeros (no cancellation).
        counts = np.diff(X.indptr)
        dev = X.data - np.repeat(mean, counts)
        var = (np.add.reduceat(dev**2, X.indptr[:-1]) * (counts > 0)
               if X.data.size else np.zeros(X.shape[1]))
        var = (var + (n - counts) * mean**2) / n
    else:
        mean = X.mean(axis=0)
        var = ((X - mean) ** 2).sum(axis=0) / n
    def name(j):
        return (f"column {feature_names[j]!r} (index {j})" if feature_names is not None
                else f"column index {j} (0-based)")

    bad = np.flatnonzero(var < ZERO_VARIANCE)
    if bad.size:
        raise ValueError(f"X: {name(int(bad[0]))} has zero variance and cannot be standardized")
    scale = np.sqrt(var)
    if sp.issparse(X):
        # Sparse columns are centred implicitly, (x'v - mean * sum(v)) / scale, which
        # loses log10(|mean| / scale) digits, and twice that in the majorisation
        # constants; past ~1e5 convergence slows by orders of magnitude.
        ratio = np.abs(mean) / scale
        worst = int(np.argmax(ratio))
        if ratio[worst] > MAX_SPARSE_MEAN_RATIO:
            raise ValueError(
                f"X: {name(worst)} has |mean| / std = {ratio[worst]:.3g}; standardizing it "
                f"implicitly in sparse form loses too much precision.  Centre that column "
                f"first, or pass X as a dense array")
    return mean, scale


def solve(X, y, w, offset, power, gs: GroupStructure, pf, alpha, lambdas, n_lambdas,
          lambda_min_ratio, dfmax, pmax, standardize, tol, max_iter,
          feature_names=None, warn=True) -> PathResult:
    """Run the kernel on validated inputs and return the path on the original scale.

    ``w`` are raw observation weights (normalised here); see ``HDTweedie`` for the
    objective.  With ``warn=False`` warnings are returned in ``PathResult.warnings``
    instead of emitted (``warnings.catch_warnings`` is not thread-safe, and CV
    solves in threads).
    """
    n, p = X.shape
    G = gs.n_groups
    ulam, nlam, flmin = resolve_lambdas(lambdas, n_lambdas, lambda_min_ratio, n, p)
    dfmax = G + 1 if dfmax is None else check_scalar(dfmax, "dfmax", int, low=0)
    if pmax is None:
        pmax = int(min(dfmax * 1.2, G))
    else:
        pmax = check_scalar(pmax, "pmax", int, low=0)
    max_iter = DEFAULT_MAX_ITER if max_iter is None else check_scalar(
        max_iter, "max_iter", int, low=1, high=2**62)
    tol = check_scalar(tol, "tol", float, low=0, low_open=True)
    wn = np.ascontiguousarray(w / w.sum())

    is_sparse = sp.issparse(X)
    if standardize:
        xm, xs = standardization(X, feature_names)
    else:
        xm, xs = np.zeros(p), np.ones(p)
    if not is_sparse:
        dense = np.asfortranarray((X - xm) / xs if standardize else X)

    # At the Poisson and Gamma limits a start at eta = offset can be very far from the
    # optimum (each IRLS step moves the intercept by at most about 1 there), so start
    # from the intercept-only maximum-likelihood fit.  Inside (1, 2) the reference
    # starts at 0 and so do we.
    b0_start = 0.0
    if power == 1:
        b0_start = float(np.log(np.sum(wn * y) / np.sum(wn * np.exp(offset))))
    elif power == 2:
        b0_start = float(np.log(np.sum(wn * y * np.exp(-offset))))

    problem = _cd.Problem(y, wn, offset, float(power), gs.cols, gs.ptr, pf, float(alpha))
    options = _cd.Options(nlam, flmin, ulam, dfmax, pmax, tol, max_iter, b0_start=b0_start,
                          gram_max=GRAM_MAX, unpack_density=SPARSE_UNPACK_DENSITY)
    if is_sparse:
        out = _cd.solve_path_sparse(X.data, X.indices, X.indptr, xm, xs, n, problem, options)
    else:
        out = _cd.solve_path_dense(dense, problem, options)
    alam, b0, beta = out.lambdas, out.intercepts, out.coefs
    nalam, npass, jerr, lam_max, n_clipped = (out.lambdas.size, out.n_passes, out.status,
                                              out.lambda_max, out.n_clipped)
    alam = alam[:nalam].copy()
    b0 = b0[:nalam].copy()
    coefs = beta[:nalam].T.copy()
    if ulam is None and nalam >= 1 and not lam_max > 0:
        raise ValueError("lambda_max is 0: no penalised group has a gradient at the "
                         "intercept-only fit (constant columns?); give lambdas explicitly")
    if ulam is None and nalam >= 1:
        alam[0] = _first_lambda(alam, lam_max)
    if standardize:
        coefs = coefs / xs[:, None]
        b0 = b0 - xm @ coefs
    df = np.count_nonzero(coefs, axis=0)
    if not (np.all(np.isfinite(coefs)) and np.all(np.isfinite(b0))
            and np.all(np.isfinite(alam))):
        raise ValueError("the solver produced non-finite coefficients; X, y or offset are on "
                         "a scale where the Tweedie loss overflows (rescale X or y)")
    held = []
    if jerr != 0:
        held.append((status_message(jerr, max_iter, pmax), ConvergenceWarning))
    if n_clipped:
        held.append((f"the linear predictor left [-700, 700] in {n_clipped} evaluations and was "
                     f"clipped there to keep exp() finite; the fit is unreliable (rescale X, y "
                     f"or offset)", RuntimeWarning))
    res = PathResult(lambdas=alam, intercepts=b0, coefs=coefs, df=df, n_passes=int(npass),
                     status=int(jerr), lambda_max=float(lam_max), n_clipped=int(n_clipped),
                     warnings=tuple(held))
    if warn:
        res.emit_warnings(stacklevel=3)
        res.warnings = ()
    return res


def _first_lambda(alam, lam_max):
    """The reported first lambda of a default path: 9.9e30 replaced by extrapolating
    the geometric grid (``lambda_max`` itself when there are fewer than 3)."""
    if alam.size >= 3:
        return np.exp(2 * np.log(alam[1]) - np.log(alam[2]))
    return lam_max


def default_lambdas(X, y, w, offset, power, gs, pf, alpha, n_lambdas, lambda_min_ratio,
                    dfmax, pmax, standardize, tol, max_iter):
    """The lambda grid that ``solve`` with ``lambdas=None`` will report, bit for bit.

    Solves only the first (intercept-only) lambda for ``lambda_max`` and repeats the
    kernel's geometric recurrence.  Returns None when that solve fails or gives no
    positive ``lambda_max``; the full solve then reports why.
    """
    n, p = X.shape
    _, nlam, flmin = resolve_lambdas(None, n_lambdas, lambda_min_ratio, n, p)
    try:
        res = solve(X, y, w, offset, power, gs, pf, alpha, None, 1, flmin, dfmax, pmax,
                    standardize, tol, max_iter, warn=False)
    except ValueError:
        return None
    lam_max = res.lambda_max
    if res.lambdas.size < 1 or res.status != 0 or not lam_max > 0:
        return None
    # The kernel's recurrence: alf = flmin^(1/(nlam-1)); lambda_1 = lambda_max alf,
    # lambda_m = lambda_(m-1) alf (each product rounded as the kernel rounds it).
    alf = flmin ** (1.0 / (nlam - 1.0)) if nlam > 1 else 1.0
    alam = np.empty(nlam)  # alam[0] is set last, from alam[1:3]
    al = lam_max
    for m in range(1, nlam):
        al = al * alf
        alam[m] = al
    alam[0] = _first_lambda(alam, lam_max)
    return alam


class ConvergenceWarning(UserWarning):
    """The path stopped early: no convergence within max_iter, or pmax exceeded."""


def interpolate(lambdas, intercepts, coefs, s):
    """Coefficients at lambdas ``s``, linear in lambda between grid points (as R's ``coef``).

    ``s`` is clamped into the grid's range; each value is interpolated on its own.
    Returns ``(intercepts (m,), coefs (p, m))``.
    """
    s = np.atleast_1d(np.asarray(s, dtype=np.float64)).ravel()
    if not np.all(np.isfinite(s)):
        raise ValueError(f"s must be finite, got {s[~np.isfinite(s)][:3]}")
    lam = np.asarray(lambdas)
    if lam.size == 1:
        return np.repeat(intercepts, s.size), np.repeat(coefs, s.size, axis=1)
    sc = np.clip(s, lam.min(), lam.max())
    # lam is decreasing: find left (larger) and right (smaller) neighbours.
    inc = lam[::-1]
    pos = np.searchsorted(inc, sc, side="left")
    pos = np.clip(pos, 1, lam.size - 1)
    right_inc = pos          # index in increasing order of the neighbour >= s
    left_inc = pos - 1       # neighbour < s
    hi = lam.size - 1 - left_inc   # index in decreasing order (smaller lambda)
    lo = lam.size - 1 - right_inc  # larger lambda
    denom = lam[lo] - lam[hi]
    frac = np.where(denom > 0, (sc - lam[hi]) / np.where(denom > 0, denom, 1.0), 1.0)
    b0 = intercepts[lo] * frac + intercepts[hi] * (1 - frac)
    b = coefs[:, lo] * frac + coefs[:, hi] * (1 - frac)
    return b0, b
