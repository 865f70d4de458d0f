"""Special functions for the Tweedie distribution, vectorised in numpy (no scipy).

``log_gamma`` is exact to a few units in the last place, relative, for every ``x > 0``
(also next to its zeros at 1 and 2); ``log_poisson`` and ``log_gamma_density`` use
Loader's saddle-point form, free of the cancellation of ``x log m - m - lgamma(x + 1)``
at large arguments; ``gammainc`` gives both regularised incomplete gamma functions,
each with relative accuracy where it is small.
"""

from __future__ import annotations

import math

import numpy as np

_LS2PI = 0.5 * math.log(2 * math.pi)
_EULER = 0.57721566490153286061

# lgamma(2 + e) = sum_k c_k e^k,  c_1 = 1 - Euler,  c_k = (-1)^k (zeta(k) - 1) / k  (|e| < 2).
_TAYLOR2 = np.array([
    1 - _EULER,
    3.22467033424113203e-01, -6.73523010531981020e-02, 2.05808084277845464e-02,
    -7.38555102867398568e-03, 2.89051033074152336e-03, -1.19275391170326102e-03,
    5.09669524743042450e-04, -2.23154758453579386e-04, 9.94575127818085310e-05,
    -4.49262367381331420e-05, 2.05072127756706911e-05, -9.43948827526839672e-06,
    4.37486678990748817e-06, -2.03921575380136619e-06, 9.55141213040741935e-07,
    -4.49246919876456619e-07, 2.12071848055546646e-07, -1.00432248239680991e-07,
    4.76981016936398040e-08, -2.27110946089431635e-08, 1.08386592148969546e-08,
    -5.18347504197004664e-09, 2.48367454380247848e-09, -1.19214014058609115e-09,
    5.73136724167886225e-10, -2.75952288512423336e-10, 1.33047643742444888e-10,
])
# Stirling series: B_2k / (2k (2k-1)), k = 1..8.
_STIRLING = np.array([1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156,
                      -3617 / 122400])
_BD0_TERMS = 10  # |v| < 0.1 in bd0's series: v^20 < 1e-20
_LOG_EPS = math.log(1e-17)  # neglected series tail, relative to the sum
MAX_BLOCK = 1 << 21  # elements of one vectorised block of series terms


def _horner(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    out = np.full_like(x, coef[-1])
    for c in coef[-2::-1]:
        out = out * x + c
    return out


def _stirling_tail(x: np.ndarray) -> np.ndarray:
    """``lgamma(x) - ((x - 1/2) log x - x + log(2 pi)/2)`` for ``x >= 10``."""
    z = (1.0 / x) ** 2
    return _horner(_STIRLING, z) / x


def _log_gamma_small(x: np.ndarray) -> np.ndarray:
    """``lgamma`` on ``(0, 10)``: move to ``2 + e`` with ``|e| <= 1/2`` exactly, then Taylor."""
    low, mid = x < 0.5, x < 1.5
    shift = np.where(mid, 0.0, np.floor(x - 1.5))  # 0..8 factors below x for x >= 1.5
    e = np.where(low, x, np.where(mid, x - 1.0, x - shift - 2.0))
    prod = np.ones_like(x)
    for i in range(1, 9):
        prod *= np.where(shift >= i, x - i, 1.0)
    with np.errstate(divide="ignore"):
        corr = np.where(low, -np.log(x) - np.log1p(x), np.where(mid, -np.log(x), np.log(prod)))
    return e * _horner(_TAYLOR2, e) + corr


def log_gamma(x) -> np.ndarray:
    """Natural log of the gamma function for ``x > 0``, vectorised.

    Parameters
    ----------
    x : array_like
        Positive arguments.

    Returns
    -------
    numpy.ndarray
        ``log Gamma(x)``, relative error about 1e-15.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    big = x >= 10
    xb = x[big]
    out[big] = (xb - 0.5) * np.log(xb) - xb + _LS2PI + _stirling_tail(xb)
    out[~big] = _log_gamma_small(x[~big])
    return out


def _stirlerr_direct(x: np.ndarray) -> np.ndarray:
    return log_gamma(x + 1.0) - (x + 0.5) * np.log(x) + x - _LS2PI


_STIRLERR_INT = _stirlerr_direct(np.arange(1.0, 16.0))  # Poisson counts 1..15 are common


def _stirlerr(x: np.ndarray) -> np.ndarray:
    """``lgamma(x + 1) - ((x + 1/2) log x - x + log(2 pi)/2)`` for ``x > 0``."""
    out = np.empty_like(x)
    big = x > 15
    out[big] = _stirling_tail(x[big])
    small = ~big
    xs = x[small]
    whole = xs == np.floor(xs)
    vals = np.empty_like(xs)
    vals[whole] = _STIRLERR_INT[xs[whole].astype(np.intp) - 1]
    vals[~whole] = _stirlerr_direct(xs[~whole])
    out[small] = vals
    return out


def _bd0(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Loader's deviance term ``x log(x / m) + m - x`` without cancellation near ``x = m``."""
    d = x - m
    close = np.abs(d) < 0.1 * (x + m)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(x > 0, x * (np.log(x) - np.log(m)), 0.0) - d
    dc, xc = d[close], x[close]
    v = dc / (xc + m[close])
    ser = dc * v
    ej = 2 * xc * v
    v2 = v * v
    for j in range(1, _BD0_TERMS + 1):
        ej = ej * v2
        ser = ser + ej / (2 * j + 1)
    out[close] = ser
    return out


def log_poisson(x, m) -> np.ndarray:
    """``log(m^x exp(-m) / Gamma(x + 1))`` for real ``x >= 0`` and ``m > 0``, broadcast.

    Parameters
    ----------
    x : array_like
        Non-negative (not necessarily integer) counts.
    m : array_like
        Positive means.

    Returns
    -------
    numpy.ndarray
        The log Poisson mass, accurate also when ``x`` and ``m`` are large.
    """
    x, m = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64))
    out = -m.copy()
    pos = x > 0
    xp = x[pos]
    out[pos] = -np.log(2 * math.pi * xp) / 2 - _stirlerr(xp) - _bd0(xp, m[pos])
    return out


def log_gamma_density(y, shape, scale) -> np.ndarray:
    """Log density of the Gamma(``shape``, ``scale``) law at ``y > 0``, broadcast.

    Parameters
    ----------
    y : array_like
        Positive points.
    shape, scale : array_like
        Positive parameters.

    Returns
    -------
    numpy.ndarray
        ``(shape - 1) log y - y / scale - lgamma(shape) - shape log(scale)``, computed as
        a Poisson mass in ``y / scale`` (as R's ``dgamma``).
    """
    y, a, s = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (y, shape, scale)))
    x = y / s
    out = np.empty_like(y)
    big = a >= 1
    out[big] = log_poisson(a[big] - 1, x[big]) - np.log(s[big])
    small = ~big
    out[small] = log_poisson(a[small], x[small]) + np.log(a[small]) - np.log(y[small])
    return out


_SWEEP = 16  # iterations between compactions of the still-running elements


def _lower_series(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``P(a, x) = Pois(a; x) sum_n x^n / ((a+1)...(a+n))`` for ``x < a + 1``."""
    out = np.empty_like(x)
    idx = np.arange(x.size)
    aa, xx = a.copy(), x.copy()
    total, term, den = np.ones_like(x), np.ones_like(x), a.copy()
    while idx.size:
        for _ in range(_SWEEP):  # terms past convergence only add below the last bit
            den += 1
            term *= xx / den
            total += term
        r = xx / (den + 1)  # ratios decrease, so the tail is below term r / (1 - r)
        done = term * r < 1e-17 * total * (1 - r)
        out[idx[done]] = total[done]
        keep = ~done
        idx, aa, xx, total, term, den = idx[keep], aa[keep], xx[keep], total[keep], term[keep], den[keep]
    return np.exp(log_poisson(a, x)) * out


def _upper_fraction(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``Q(a, x)`` by Lentz's continued fraction for ``x >= a + 1``."""
    tiny = 1e-300
    out = np.empty_like(x)
    idx = np.arange(x.size)
    aa = a.copy()
    b = x + 1 - a
    c = np.full_like(x, 1 / tiny)
    d = 1 / b
    h = d.copy()
    i = 0
    while idx.size:
        for _ in range(_SWEEP):  # past convergence the factors are 1 to the last bit
            i += 1
            an = -i * (i - aa)
            b += 2
            d = an * d + b
            d[np.abs(d) < tiny] = tiny
            c = b + an / c
            c[np.abs(c) < tiny] = tiny
            d = 1 / d
            delta = c * d
            h *= delta
        done = np.abs(delta - 1) < 1e-16
        out[idx[done]] = h[done]
        keep = ~done
        idx, aa, b, c, d, h = idx[keep], aa[keep], b[keep], c[keep], d[keep], h[keep]
    return a * np.exp(log_poisson(a, x)) * out


def gammainc(a, x, log_floor=-750.0) -> tuple[np.ndarray, np.ndarray]:
    """Regularised lower and upper incomplete gamma functions ``P(a, x)`` and ``Q(a, x)``.

    Parameters
    ----------
    a : array_like
        Positive shapes.
    x : array_like
        Non-negative points.
    log_floor : float or array_like, default -750
        A value of ``P`` (or ``Q``) whose upper bound is below ``exp(log_floor)`` is
        returned as 0 without iterating (broadcast with ``a`` and ``x``).

    Returns
    -------
    P, Q : numpy.ndarray
        ``P = 1 - Q``; whichever is smaller carries relative accuracy about 1e-15.
    """
    a, x, floor = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, x, log_floor)))
    shape = a.shape
    a, x, floor = a.ravel(), x.ravel(), floor.ravel()
    small = np.zeros_like(x)  # the smaller of P and Q
    lower = x < a + 1
    pos = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        lead = log_poisson(a, x)
        # P <= Pois(a; x) / (1 - x/(a+1));  Q <= x^(a-1) e^-x / Gamma(a) / (1 - max(a-1, 0)/x)
        bound = np.where(lower, lead - np.log1p(-x / (a + 1)),
                         np.log(a) + lead - np.log(x) - np.log1p(-np.maximum(a - 1, 0) / x))
    work = pos & (bound >= floor)
    sel = work & lower
    small[sel] = _lower_series(a[sel], x[sel])
    sel = work & ~lower
    small[sel] = _upper_fraction(a[sel], x[sel])
    p = np.where(lower, small, 1 - small)
    q = np.where(lower, 1 - small, small)
    return p.reshape(shape), q.reshape(shape)


def series_sum(j0, spread, make_term, moments: bool = False):
    """Log-sum of the Dunn-Smyth series terms of each row, outwards from ``j0``.

    ``make_term(sel)`` gives the log-term function ``log_term(j, idx)`` of rows ``sel``.
    Near the peak the log-terms fall like ``(j - j_max)^2 spread / (2 j_max)``, so a first
    block of 9 standard deviations usually reaches the tail; rows are walked in groups of
    similar block width, at most ``MAX_BLOCK`` terms at a time.  With ``moments`` it also
    returns the mean and variance of ``j`` under the weights ``exp(log_term)``.
    """
    bucket = np.ceil(np.log2(9 * np.sqrt(j0 / spread) + 4)).astype(np.intp)
    out = np.empty((3 if moments else 1, j0.size))
    for b in np.unique(bucket):
        rows = np.flatnonzero(bucket == b)
        chunk = max(1, MAX_BLOCK >> int(b))
        for lo in range(0, rows.size, chunk):
            sel = rows[lo:lo + chunk]
            out[:, sel] = _walk(j0[sel], make_term(sel), 1 << int(b), moments)
    return tuple(out) if moments else out[0]


def _walk(j0, log_term, width0: int, moments: bool) -> np.ndarray:
    """Log-sum-exp of the series terms, from ``j0`` up and down until the geometric tail bound holds.

    Rows: the log-sum, and (with ``moments``) the mean and variance of ``j``, accumulated
    about ``j0`` so that a narrow peak at a large ``j`` keeps its variance.
    """
    n = j0.size
    top = log_term(j0[:, None], np.arange(n))[:, 0]
    total = np.ones(n)
    s1, s2 = np.zeros(n), np.zeros(n)
    for step in (1, -1):
        start = j0.copy()
        idx = np.arange(n) if step > 0 else np.flatnonzero(j0 > 1)
        width = width0 if step > 0 else int(max(2, min(width0, np.max(j0, initial=3) - 1)))
        while idx.size:
            d = step * np.arange(1.0, width + 1)
            j = start[idx, None] + d
            if step > 0:
                lt = log_term(j, idx)
                last_valid = np.ones(idx.size, dtype=bool)
            else:
                valid = j >= 1
                lt = np.where(valid, log_term(np.maximum(j, 1.0), idx), -np.inf)
                last_valid = valid[:, -1]
            old_top = top[idx]
            new_top = np.maximum(old_top, lt.max(axis=1))
            scale = np.exp(old_top - new_top)
            e = np.exp(lt - new_top[:, None])
            total[idx] = total[idx] * scale + e.sum(1)
            if moments:  # sums of e (j - j0) and e (j - j0)^2 with j - j0 = off + d
                off = start[idx] - j0[idx]
                e0, e1, e2 = e.sum(1), e @ d, e @ (d * d)
                s1[idx] = s1[idx] * scale + off * e0 + e1
                s2[idx] = s2[idx] * scale + off * off * e0 + 2 * off * e1 + e2
            top[idx] = new_top
            with np.errstate(invalid="ignore", divide="ignore"):
                last, ratio = lt[:, -1], lt[:, -1] - lt[:, -2]
                tail = last + ratio - np.log(-np.expm1(ratio))
                done = ~last_valid | ~np.isfinite(last) | (
                    (ratio < 0) & (tail < _LOG_EPS + top[idx] + np.log(total[idx])))
            start[idx] += step * width
            idx = idx[~done]
            width = int(min(2 * width, max(8, MAX_BLOCK // max(idx.size, 1))))
    logsum = top + np.log(total)
    if not moments:
        return logsum[None]
    mean = s1 / total
    return np.stack([logsum, j0 + mean, np.maximum(s2 / total - mean * mean, 0.0)])
