"""The lambda path: its grid, standardisation, rescaling, the kernel call and its results."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

from . import _cd
from ._checks import check_response_signal
from ._distribution import intercept_only_fit
from ._groups import disjoint_support

if TYPE_CHECKING:
    from ._groups import GroupStructure
    from ._options import FitData, PathOptions

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
# "r": R's rule on coefficient changes; "kkt": also the KKT residual at most tol.
STOPPING_RULES = _cd.STOPPING_RULES


@dataclass
class PathResult:
    """A fitted path on the original scale of X.

    ``lambdas``, ``intercepts`` and ``kkt_residual`` (the kernel's, at each
    reported lambda) have one entry per lambda reached; ``coefs`` is
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
    kkt_residual: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    # IRLS steps per kernel mode, and whether the path ended on a stall.
    steps: dict = dataclasses.field(default_factory=dict)
    stalled: bool = False
    # (message, category) pairs not yet emitted (``solve(..., warn=False)``).
    warnings: tuple = ()

    def emit_warnings(self, stacklevel: int = 2) -> None:
        """Emit the warnings that ``solve(..., warn=False)`` held back.

        Parameters
        ----------
        stacklevel : int
            As for ``warnings.warn``, counted from the caller.
        """
        for message, category in self.warnings:
            warnings.warn(message, category, stacklevel=stacklevel + 1)


def status_message(status: int, max_iter: int, pmax: int, *, stalled: bool = False,
                   n_passes: int | None = None) -> str | None:
    """The words for a non-zero status code, or None.

    Parameters
    ----------
    status : int
        0, ``-k`` or ``-10000-k`` (R's ``jerr``).
    max_iter, pmax : int
        The resolved options, quoted in the message.
    stalled : bool
        The kernel ended the path because the changes stopped shrinking at
        rounding noise above ``tol`` (not because ``max_iter`` ran out).
    n_passes : int, optional
        Passes made, quoted when ``stalled``.

    Returns
    -------
    str or None
    """
    if status == 0:
        return None
    if status <= -10000:
        k = -10000 - status
        return (f"the number of groups with non-zero coefficients along the path exceeds "
                f"pmax={pmax} at lambda {k} of the path; solutions for the first {k - 1} lambdas "
                f"are returned (status {status})")
    k = -status
    if stalled:
        why = (f"the coefficient changes stopped shrinking at rounding noise above tol after "
               f"{n_passes} passes (before max_iter={max_iter})")
    else:
        why = f"convergence was not reached after max_iter={max_iter} passes"
    return (f"at lambda {k} of the path {why}; solutions for the first {k - 1} lambdas are returned "
            f"(status {status})")


def standardization(X, feature_names, rows: np.ndarray | None = None):
    """Plain (unweighted, divide-by-n) column means and scales.

    Parameters
    ----------
    X : ndarray or scipy.sparse.csc_matrix
    feature_names : array of str or None
        Used to name a bad column.
    rows : ndarray of bool, optional
        The rows to standardise on (a CV fold's training rows); default all.

    Returns
    -------
    mean, scale : ndarray of shape (n_features,)

    Raises
    ------
    ValueError
        On a constant column, or a sparse column too far from zero mean.
    """
    if sp.issparse(X):
        mean, var = _sparse_moments(X, rows)
    else:
        mean, var = _dense_moments(X, rows)
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


# Columns of a dense X centred at a time: the temporaries stay a few MB, not the size of X.
_MOMENT_BLOCK_BYTES = 8 << 20


def _dense_moments(X: np.ndarray, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Column means and divide-by-n variances, a block of columns at a time."""
    n, p = X.shape
    mean, var = np.empty(p), np.empty(p)
    n_used = n if rows is None else int(np.count_nonzero(rows))
    step = max(1, _MOMENT_BLOCK_BYTES // (8 * n_used))
    for j in range(0, p, step):
        block = X[:, j:j + step] if rows is None else X[rows, j:j + step]
        mean[j:j + step] = block.mean(axis=0)
        var[j:j + step] = ((block - mean[j:j + step]) ** 2).sum(axis=0) / n_used
    return mean, var


def _sparse_moments(X, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Column means and divide-by-n variances of a CSC matrix, without densifying."""
    p = X.shape[1]
    col = np.repeat(np.arange(p), np.diff(X.indptr))
    data = X.data
    if rows is None:
        n, counts = X.shape[0], np.diff(X.indptr)
    else:
        # Entries of the other rows count as absent: the same sums over fewer terms.
        keep = rows[X.indices]
        col, data = col[keep], data[keep]
        n, counts = int(np.count_nonzero(rows)), np.bincount(col, minlength=p)
    mean = np.bincount(col, weights=data, minlength=p) / n
    # Centred sums over stored entries plus the implicit zeros (no cancellation).
    var = np.bincount(col, weights=(data - mean[col]) ** 2, minlength=p)
    return mean, (var + (n - counts) * mean**2) / n


# Rescaling rule.  The kernel reproduces R's iterates, which are not invariant to the
# scale of y (its convergence measure and its first-lambda sentinel 9.9e30 are absolute)
# nor to a large constant in the offset (it starts at eta = offset and moves the
# intercept by about one per IRLS step).  Both transformations below give exactly the
# same penalised problem, so they are applied only where the data needs them and R's
# iterates stay untouched on ordinary data:
# - offset: when its weighted mean c has |c| > OFFSET_CENTRE, fit offset - c and take c
#   off the fitted intercept (the intercept is unpenalised);
# - y: when its weighted mean lies outside [1/Y_SCALE_BAND, Y_SCALE_BAND], fit y / s
#   with s the nearest power of two (y / s is exact).  For the loss L of ``HDTweedie``,
#   L(eta; y) = s^(2-p) L(eta - log s; y / s), so the problem at lambda is the one on
#   y / s at lambda / s^(2-p) whose intercept is log s smaller.
OFFSET_CENTRE = 2.0
Y_SCALE_BAND = 2.0**10


@dataclass(frozen=True)
class _Rescaling:
    """Exact reparametrisation of one solve: see the rule above."""

    shift: float = 0.0
    y_scale: float = 1.0
    lambda_factor: float = 1.0

    @classmethod
    def for_data(cls, y: np.ndarray, wn: np.ndarray, offset: np.ndarray, power: float):
        """The rescaling the rule chooses for normalised weights ``wn``."""
        c = float(wn @ offset)
        shift = c if abs(c) > OFFSET_CENTRE else 0.0
        ybar = float(wn @ y)
        s = 1.0
        if ybar > 0 and not 1 / Y_SCALE_BAND <= ybar <= Y_SCALE_BAND:
            s = 2.0 ** round(np.log2(ybar))
        return cls(shift=shift, y_scale=s, lambda_factor=s ** (2.0 - power))


def lambda_grid(lambda_max: float, n_lambdas: int, lambda_min_ratio: float) -> np.ndarray:
    """The default lambda grid, as reported by the path and used by CV.

    Geometric from ``lambda_max`` down to ``lambda_min_ratio * lambda_max``, by the
    kernel's own recurrence (``alf = ratio^(1/(n-1))``, ``lambda_m = lambda_(m-1) alf``,
    each product rounded as the kernel rounds it), so it is bit for bit the grid the
    kernel walks.  The first value, which the kernel fits as "lambda = infinity",
    is reported by extrapolating the grid (``lambda_max`` itself when ``n < 3``).

    Parameters
    ----------
    lambda_max : float
        Smallest lambda at which every penalised group is zero.
    n_lambdas : int
    lambda_min_ratio : float
        Already raised to the kernel's floor (``PathOptions`` does it).

    Returns
    -------
    ndarray of shape (n_lambdas,)
    """
    alf = lambda_min_ratio ** (1.0 / (n_lambdas - 1.0)) if n_lambdas > 1 else 1.0
    alam = np.empty(n_lambdas)
    al = lambda_max
    for m in range(1, n_lambdas):
        al = al * alf
        alam[m] = al
    alam[0] = np.exp(2 * np.log(alam[1]) - np.log(alam[2])) if n_lambdas >= 3 else lambda_max
    return alam


def solve(data: FitData, opts: PathOptions, warn: bool = True) -> PathResult:
    """Run the kernel on checked inputs and return the path on the original scale.

    Parameters
    ----------
    data : FitData
        Raw weights (normalised here); see ``HDTweedie`` for the objective.
    opts : PathOptions
    warn : bool
        With False, warnings are returned in ``PathResult.warnings`` instead of
        emitted (``warnings.catch_warnings`` is not thread-safe, and CV solves in
        threads).

    Returns
    -------
    PathResult

    Raises
    ------
    ValueError
        When a column cannot be standardised, lambda_max is 0, or the solution
        is not finite.
    """
    p = data.X.shape[1]
    wn = np.ascontiguousarray(data.w / data.w.sum())
    if opts.standardize:
        xm, xs = standardization(data.X, data.feature_names, data.fit_rows)
    else:
        xm, xs = np.zeros(p), np.ones(p)
    rs = _Rescaling.for_data(data.y, wn, data.offset, opts.power)
    y = data.y / rs.y_scale if rs.y_scale != 1 else data.y
    offset = data.offset - rs.shift if rs.shift else data.offset
    kopts = opts
    if opts.lambdas is not None and rs.lambda_factor != 1:
        kopts = dataclasses.replace(opts, lambdas=opts.lambdas / rs.lambda_factor)
    # At the Poisson and Gamma limits a start at eta = offset can be very far from the
    # optimum (each IRLS step moves the intercept by at most about 1 there), so start
    # from the intercept-only maximum-likelihood fit.  Inside (1, 2) the reference
    # starts at 0 and so do we.
    b0_start = intercept_only_fit(y, wn, offset, opts.power) if opts.power in (1, 2) else 0.0
    out = _run_kernel(data.X, y, wn, offset, xm, xs, data.groups, data.penalty_factor, kopts,
                      b0_start)
    alam, b0, coefs = out.lambdas, out.intercepts, out.coefs.T.copy()
    npass, jerr, lam_max, n_clipped = out.n_passes, out.status, out.lambda_max, out.n_clipped
    nalam = alam.size
    lam_max *= rs.lambda_factor
    if opts.lambdas is not None:
        alam = opts.lambdas[:nalam].copy()
    elif nalam >= 1:
        if not lam_max > 0:
            raise ValueError("lambda_max is 0: no penalised group has a gradient at the "
                             "intercept-only fit (constant columns?); give lambdas explicitly")
        alam = lambda_grid(lam_max, opts.n_lambdas, opts.lambda_min_ratio)[:nalam]
    # Relative residuals are scale-free; at lambda = 0 it is the gradient itself.
    kkt = np.where(alam == 0, out.kkt_residuals * rs.lambda_factor, out.kkt_residuals)
    b0 = b0 + (np.log(rs.y_scale) - rs.shift)
    if opts.standardize:
        coefs = coefs / xs[:, None]
        b0 = b0 - xm @ coefs
    if not (np.all(np.isfinite(coefs)) and np.all(np.isfinite(b0))
            and np.all(np.isfinite(alam))):
        raise ValueError("the solver produced non-finite coefficients; X, y or offset are on "
                         "a scale where the Tweedie loss overflows (rescale X or y)")
    held = []
    if jerr != 0:
        held.append((status_message(jerr, opts.max_iter, opts.pmax, stalled=out.stalled, n_passes=npass),
                     ConvergenceWarning))
    if n_clipped:
        held.append((f"the linear predictor left [-{_cd.ETA_MAX:g}, {_cd.ETA_MAX:g}] in {n_clipped} "
                     f"evaluations and was "
                     f"clipped there to keep exp() finite; the fit is unreliable (rescale X, y "
                     f"or offset)", RuntimeWarning))
    res = PathResult(lambdas=alam, intercepts=b0, coefs=coefs,
                     df=np.count_nonzero(coefs, axis=0), n_passes=npass, status=jerr,
                     lambda_max=lam_max, n_clipped=n_clipped, kkt_residual=kkt,
                     steps=dict(out.steps),
                     stalled=bool(out.stalled), warnings=tuple(held))
    if warn:
        res.emit_warnings(stacklevel=3)
        res.warnings = ()
    return res


def _run_kernel(X, y: np.ndarray, wn: np.ndarray, offset: np.ndarray, xm: np.ndarray,
                xs: np.ndarray, gs: GroupStructure, pf: np.ndarray, opts: PathOptions,
                b0_start: float):
    """The compiled path on the kernel's scale.

    Returns the kernel's ``PathOutput``: ``lambdas``, ``intercepts``, ``coefs``
    (k, p) for the ``k`` lambdas reached (the first default lambda is
    ``_cd.BIG``), ``kkt_residuals``, ``n_passes``, ``status``, ``lambda_max``, ``n_clipped``,
    ``steps`` (IRLS steps per kernel mode) and ``stalled``.
    """
    n, p = X.shape
    power, alpha, standardize = opts.power, opts.alpha, opts.standardize
    nlam, flmin, ulam = opts.n_lambdas, opts.lambda_min_ratio, opts.lambdas
    dfmax, pmax, tol, max_iter = opts.dfmax, opts.pmax, opts.tol, opts.max_iter
    # One-hot groups have a diagonal majorisation matrix unless centred, so they are
    # looked for only on raw columns (the kernel checks the centring again).
    disjoint = None if standardize else disjoint_support(X, gs)
    problem = _cd.Problem(y, wn, offset, float(power), gs.cols, gs.ptr,
                          np.ascontiguousarray(pf, dtype=np.float64), float(alpha),
                          disjoint=disjoint)
    options = _cd.Options(nlam, flmin, ulam, dfmax, pmax, tol, max_iter, b0_start=b0_start,
                          gram_max=GRAM_MAX, unpack_density=SPARSE_UNPACK_DENSITY,
                          stopping=opts.stopping, n_threads=opts.n_threads)
    if sp.issparse(X):
        return _cd.solve_path_sparse(X.data, X.indices, X.indptr, xm, xs, n, problem, options)
    # Dense columns are standardised on the fly, entry by entry (no copy of X).
    std = (xm, xs) if standardize else (None, None)
    return _cd.solve_path_dense(np.asfortranarray(X), problem, options, *std)


def default_lambdas(data: FitData, opts: PathOptions) -> np.ndarray | None:
    """The lambda grid that ``solve(data, opts)`` with the default grid will report, bit for bit.

    Solves only the first (intercept-only) lambda for ``lambda_max``, then calls
    :func:`lambda_grid`.

    Parameters
    ----------
    data : FitData
    opts : PathOptions

    Returns
    -------
    ndarray or None
        None when that solve fails or gives no positive ``lambda_max``; the full
        solve then reports why.
    """
    try:
        res = solve(data, opts.with_n_lambdas(1), warn=False)
    except ValueError:
        return None
    if res.lambdas.size < 1 or res.status != 0 or not res.lambda_max > 0:
        return None
    return lambda_grid(res.lambda_max, opts.n_lambdas, opts.lambda_min_ratio)


class ConvergenceWarning(_SklearnConvergenceWarning):
    """The path stopped early: no convergence within max_iter, or pmax exceeded."""


def interpolate(lambdas, intercepts, coefs, s):
    """Coefficients at lambdas ``s``, linear in lambda between grid points (as R's ``coef``).

    Parameters
    ----------
    lambdas : ndarray of shape (k,)
        The path's lambdas, decreasing.
    intercepts : ndarray of shape (k,)
    coefs : ndarray of shape (p, k)
    s : float or array-like
        Clamped into the grid's range; each value is interpolated on its own.

    Returns
    -------
    intercepts : ndarray of shape (m,)
    coefs : ndarray of shape (p, m)

    Raises
    ------
    ValueError
        When ``s`` is not finite.
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


def solve_fold(data: FitData, opts: PathOptions, train: np.ndarray) -> tuple:
    """The path on a CV fold's training rows.

    The other rows stay in X with weight 0 (``FitData.fold``): the same problem
    as on a copy of the training rows, in O(n) memory rather than O(n p).

    Parameters
    ----------
    data : FitData
    opts : PathOptions
    train : ndarray of int
        The rows fitted.

    Returns
    -------
    tuple
        ``(PathResult, None)``, or ``(None, why)`` when the fold cannot be
        fitted (its warnings are held in the result, not emitted: a fold's
        early stop is reported by NaN losses).
    """
    try:
        fold = data.fold(train)
        check_response_signal(fold.y, fold.w)
        res = solve(fold, opts, warn=False)
    except ValueError as exc:
        return None, str(exc)
    if res.lambdas.size == 0:
        return None, "the fold's path stopped at the first lambda"
    return res, None

