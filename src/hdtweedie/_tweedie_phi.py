r"""Maximum-likelihood dispersion of the Tweedie distribution at a fixed power, given the means.

Row ``i`` has dispersion ``phi / w_i``.  For ``1 < p < 2`` write ``t = log phi`` and
``alpha = (2 - p) / (p - 1)``; the log density of a row is (Dunn and Smyth, 2005)

::

    log f_i = w_i (y_i theta_i - kappa_i) / phi - log y_i + g(z_i),     z_i = c_i - (1 + alpha) t
    theta = mu^(1-p) / (1-p),   kappa = mu^(2-p) / (2-p)
    c_i = alpha log y_i - alpha log(p - 1) - log(2 - p) + (1 + alpha) log w_i
    g(z) = log sum_{j >= 1} exp(j z - lgamma(j + 1) - lgamma(j alpha))

for ``y_i > 0``, and ``-w_i kappa_i / phi`` at ``y_i = 0``.  So the log-likelihood is
``l(t) = B exp(-t) - sum log y + sum g(z_i)`` with ``B = sum_i w_i (y_i theta_i - kappa_i)``
(zeros enter only there, in closed form), and its derivatives are moments of ``j`` under
the weights of the series terms:

::

    l'(t)  = -B exp(-t) - (1 + alpha) sum_i E_i[j]
    l''(t) =  B exp(-t) + (1 + alpha)^2 sum_i Var_i[j]

One series pass per ``t`` gives all three; the per-row constants and the table of
``lgamma(j + 1) + lgamma(j alpha)`` are shared by every ``t``.  The maximum is found by
Newton's method on ``l'`` in ``t``, kept inside the bracket of sign changes seen so far.
Rows whose series peaks beyond ``j (1 + alpha) = 1e5`` use Loader's saddle-point form of
the terms instead of the table, which would lose digits there.
"""

from __future__ import annotations

import math

import numpy as np

from ._tweedie_special import log_gamma, log_gamma_density, log_poisson, series_sum

_LOG_EPS = math.log(1e-17)  # neglected series tail, relative to the sum, as in the walk
_TABLE_LIMIT = 1e5  # j (1 + alpha) beyond which lgamma(j + 1) + lgamma(j alpha) loses 1e-11
_T_TOL = 1e-7  # last Newton step in log phi: the next would be below 1e-13
_T_MAX = 700.0  # |log phi| beyond which no finite maximum is sought


class _LogFactorTable:
    """``lgamma(j + 1) + lgamma(j alpha)`` for integer ``j >= 1``, grown on demand."""

    def __init__(self, alpha: float):
        self.alpha = alpha
        self.values = np.zeros(1)

    def __call__(self, j: np.ndarray) -> np.ndarray:
        k = j.astype(np.intp)
        need = int(k.max(initial=0)) + 1
        if need > self.values.size:
            size = max(need, 2 * self.values.size, 64)
            jj = np.arange(self.values.size, size, dtype=np.float64)
            jj[jj == 0] = 1.0  # index 0 is never read
            self.values = np.concatenate([self.values, log_gamma(jj + 1) + log_gamma(jj * self.alpha)])
        return self.values[k]


class PowerLikelihood:
    """The log-likelihood in ``t = log phi`` at one power ``1 < p < 2``, for fixed means.

    Parameters
    ----------
    y, mu, w : numpy.ndarray
        Responses (``>= 0``, some ``> 0``), means (``> 0``) and prior weights (``> 0``),
        flat float64 arrays of one length.
    p : float
        The power, in ``(1, 2)``.
    """

    def __init__(self, y: np.ndarray, mu: np.ndarray, w: np.ndarray, p: float):
        a = (2 - p) / (p - 1)
        self.alpha = a
        lmu = np.log(mu)
        pos = y > 0
        y_theta = np.where(pos, y * np.exp((1 - p) * lmu) / (1 - p), 0.0)
        kappa = np.exp((2 - p) * lmu) / (2 - p)
        self.b = float(w @ (y_theta - kappa))
        order = np.argsort(a * np.log(y[pos]) + (1 + a) * np.log(w[pos]))  # rows by z, for _windows
        y, w = y[pos][order], w[pos][order]
        ly, lw = np.log(y), np.log(w)
        self.const = -float(ly.sum())
        self.c = a * ly - a * math.log(p - 1) - math.log(2 - p) + (1 + a) * lw
        self.log_jmax = (2 - p) * ly - math.log(2 - p) + lw  # at phi = 1
        # For Loader's form: Poisson mean and Gamma scale at phi = 1, and the exponent part.
        mu_p, kappa_p, y_theta_p = mu[pos][order], kappa[pos][order], y_theta[pos][order]
        self.lam1 = w * kappa_p
        self.tau1 = (p - 1) * np.exp((p - 1) * np.log(mu_p)) / w
        self.y, self.expo1, self.log_y = y, w * (y_theta_p - kappa_p), ly
        self.table = _LogFactorTable(a)

    def __call__(self, t: float) -> tuple[float, float, float]:
        """``l(t)``, ``l'(t)`` and ``l''(t)``.

        Parameters
        ----------
        t : float
            ``log phi``.

        Returns
        -------
        tuple of float
            The log-likelihood and its first two derivatives in ``t``.
        """
        a, phi = self.alpha, math.exp(t)
        z = self.c - (1 + a) * t
        jmax = np.exp(self.log_jmax - t)  # increasing, as c
        logsum, mean, var = np.empty((3, z.size))
        walk = jmax * (1 + a) > _TABLE_LIMIT
        near = np.flatnonzero(~walk)
        if near.size:
            done = self._windows(z[near], jmax[near], logsum, mean, var, near)
            walk[near[~done]] = True
        far = jmax * (1 + a) > _TABLE_LIMIT
        for rows, make in ((np.flatnonzero(walk & ~far), self._table_terms(z)),
                           (np.flatnonzero(far), self._loader_terms(phi))):
            if rows.size:
                j0 = np.maximum(1.0, np.round(jmax[rows]))
                sub = series_sum(j0, 1 + a, lambda sel, r=rows, m=make: m(r[sel]), moments=True)
                logsum[rows], mean[rows], var[rows] = sub
        shift = self.b / phi
        return (shift + self.const + float(logsum.sum()), -shift - (1 + a) * float(mean.sum()),
                shift + (1 + a) ** 2 * float(var.sum()))

    def _windows(self, z, jmax, logsum, mean, var, rows) -> np.ndarray:
        """Sum the series of rows sorted by ``z`` over one shared window of ``j`` per bin.

        Bins hold peaks within a factor 2^(1/4); each window reaches 12 standard deviations
        past the bin's peaks.  Returns which rows met the walk's tail bound at both ends
        (the others are left to the walk).
        """
        a1 = 1 + self.alpha
        key = np.floor(4 * np.log2(np.maximum(jmax, 1.0))).astype(np.intp)
        edges = np.flatnonzero(np.diff(key)) + 1
        ok = np.zeros(z.size, dtype=bool)
        for s, e in zip(np.r_[0, edges], np.r_[edges, z.size]):
            lo_j, hi_j = max(jmax[s], 1.0), max(jmax[e - 1], 1.0)
            lo = max(1.0, math.floor(lo_j - 12 * math.sqrt(lo_j / a1) - 2))
            hi = math.ceil(hi_j + 12 * math.sqrt(hi_j / a1) + 12)
            jv = np.arange(lo, hi + 1)
            lt = np.multiply.outer(z[s:e], jv) - self.table(jv)
            top = lt.max(axis=1)
            ex = np.exp(lt - top[:, None])
            mid = math.floor((lo + hi) / 2)
            d = jv - mid
            s0, s1, s2 = (ex @ np.column_stack([np.ones(jv.size), d, d * d])).T
            lsum = top + np.log(s0)
            good = _tail_small(lt[:, -1], lt[:, -2], lsum)
            if lo > 1:
                good &= _tail_small(lt[:, 0], lt[:, 1], lsum)
            m1 = s1 / s0
            r = rows[s:e]
            logsum[r], mean[r], var[r] = lsum, mid + m1, np.maximum(s2 / s0 - m1 * m1, 0.0)
            ok[s:e] = good
        return ok

    def _table_terms(self, z: np.ndarray):
        """Log-terms ``j z - lgamma(j + 1) - lgamma(j alpha)`` of rows ``sel``."""
        def make_term(sel):
            zs = z[sel, None]
            return lambda j, idx: j * zs[idx] - self.table(j)
        return make_term

    def _loader_terms(self, phi: float):
        """Terms of ``g`` in Loader's form: the log series terms less the exponent part."""
        alpha = self.alpha

        def make_term(sel):
            ys, ls, ts = self.y[sel, None], self.lam1[sel, None] / phi, self.tau1[sel, None] * phi
            rs = (self.expo1[sel] / phi - self.log_y[sel])[:, None]
            return lambda j, idx: (log_poisson(j, ls[idx]) + log_gamma_density(ys[idx], j * alpha, ts[idx])
                                   - rs[idx])
        return make_term


def _tail_small(last: np.ndarray, inner: np.ndarray, logsum: np.ndarray) -> np.ndarray:
    """Whether the geometric bound on the terms beyond ``last`` is below 1e-17 of the sum."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = last - inner
        return (ratio < 0) & (last + ratio - np.log(-np.expm1(ratio)) < _LOG_EPS + logsum)


def _newton(loglik, t0: float) -> tuple[float, float]:
    """Stationary point of ``loglik`` (a function returning value, slope, curvature) from ``t0``.

    Newton steps of at most 2 in ``t``; when the curvature is not negative, or a step leaves
    the bracket of slope sign changes, a step of 2 uphill or a bisection instead.
    """
    lo, hi, t = -math.inf, math.inf, t0
    for _ in range(200):
        value, slope, curv = loglik(t)
        if not (math.isfinite(value) and math.isfinite(slope)):
            break
        if slope == 0:  # a stationary point already: the bracket update below would lose it
            return t, value
        if slope > 0:
            lo = t
        else:
            hi = t
        step = -slope / curv if curv < 0 else math.copysign(2.0, slope)
        new = t + max(-2.0, min(2.0, step))
        if not lo < new < hi:
            new = (lo + hi) / 2
        if abs(new - t) < _T_TOL or abs(new) > _T_MAX:
            if abs(new) > _T_MAX:
                break
            return new, value
        t = new
    raise ValueError(f"no finite maximum-likelihood phi: the search stopped near phi = {math.exp(t):.3g}")


def _brent(f, a: float, x: float, b: float, fx: float, xtol: float) -> float:
    """Minimise ``f`` on ``[a, b]`` given ``f(x) <= f(a), f(b)``: golden section with parabolic steps."""
    golden = 0.3819660112501051
    v = w = x
    fv = fw = fx
    d = e = 0.0
    for _ in range(200):
        m = (a + b) / 2
        if abs(x - m) <= 2 * xtol - (b - a) / 2:
            break
        parabolic = False
        if abs(e) > xtol:
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            step = (x - v) * q - (x - w) * r
            q = 2 * (q - r)
            step, q = (-step, q) if q > 0 else (step, -q)
            if abs(step) < abs(q * e / 2) and q * (a - x) < step < q * (b - x):
                e, d = d, step / q
                parabolic = True
                if x + d - a < 2 * xtol or b - x - d < 2 * xtol:
                    d = xtol if x < m else -xtol
        if not parabolic:
            e = (a - x) if x >= m else (b - x)
            d = golden * e
        u = x + (d if abs(d) >= xtol else math.copysign(xtol, d))
        fu = f(u)
        if fu <= fx:
            a, b = (x, b) if u >= x else (a, x)
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            a, b = (a, u) if u >= x else (u, b)
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu
    return x


def _minimise_bracketed(f, t0: float, xtol: float) -> float:
    """Minimise ``f`` from ``t0``: golden-ratio steps outwards until it rises, then Brent."""
    t1 = t0 + 1.0
    f0, f1 = f(t0), f(t1)
    if not f1 < f0:  # downhill is towards smaller t
        t0, t1, f0, f1 = t1, t0, f1, f0
    for _ in range(80):
        t2 = t1 + 1.618034 * (t1 - t0)
        if abs(t2) > _T_MAX:
            break
        f2 = f(t2)
        if f2 >= f1 or math.isnan(f2):
            return _brent(f, min(t0, t2), t1, max(t0, t2), f1, xtol)
        t0, t1, f0, f1 = t1, t2, f1, f2
    raise ValueError(f"no finite maximum-likelihood phi: the likelihood keeps increasing towards "
                     f"phi = {math.exp(t1):.3g}")


def _gamma_fit(y, mu, w, t0: float) -> tuple[float, float]:
    def nll(t: float) -> float:
        phi = math.exp(t) / w
        return float(-np.sum(log_gamma_density(y, 1 / phi, mu * phi)))

    t = _minimise_bracketed(nll, t0, 1e-9)
    return t, -nll(t)


def fit_dispersion(y, mu, w, p: float, start: float | None = None) -> tuple[float, float]:
    """Maximum-likelihood ``phi`` and the log-likelihood there, for checked flat arrays.

    Parameters
    ----------
    y, mu, w : numpy.ndarray
        Responses, means and prior weights (all ``> 0``; ``y > 0`` at ``p = 2``).
    p : float
        Power in ``(1, 2]``.
    start : float, optional
        Starting ``phi``; default the Pearson estimate.

    Returns
    -------
    phi, loglik : float
        The maximiser and ``sum_i log f(y_i; mu_i, phi / w_i, p)`` there.

    Raises
    ------
    ValueError
        If no finite maximum is found.
    """
    if start is None or not 0 < start < math.inf:
        start = float(np.sum(w * (y - mu) ** 2 / mu ** p) / y.size)
    t0 = math.log(start) if 0 < start < math.inf else 0.0
    if p == 2:
        t, value = _gamma_fit(y, mu, w, t0)
    else:
        t, value = _newton(PowerLikelihood(y, mu, w, p), t0)
    return math.exp(t), value
