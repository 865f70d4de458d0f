r"""Tweedie distribution functions for powers in [1, 2], with numpy and the standard library only.

For ``1 < p < 2`` a Tweedie variable with mean ``mu``, dispersion ``phi`` and power ``p``
is a compound Poisson sum ``Y = G_1 + ... + G_N`` with

::

    N ~ Poisson(lambda),                lambda = mu^(2-p) / (phi (2-p))
    G_i ~ Gamma(shape alpha, scale tau),  alpha = (2-p) / (p-1),  tau = phi (p-1) mu^(p-1)

so that ``E Y = mu`` and ``Var Y = phi mu^p``.  It has the point mass
``P(Y = 0) = exp(-lambda)`` and, for ``y > 0``, the density (Dunn and Smyth, 2005)

::

    f(y) = sum_{j >= 1} Pois(j; lambda) Gamma(y; j alpha, tau)

summed in log space from its largest term, near ``j_max = y^(2-p) / (phi (2-p))``,
outwards in both directions.  Each log-term is concave in ``j``, so once the terms
decrease with ratio ``r`` the rest is below the geometric tail ``t r / (1 - r)``; a
direction stops when that bound falls under 1e-17 of the sum.  Each log-term is
``log Pois + log Gamma`` in Loader's saddle-point form
``log Pois(x; m) = -log(2 pi x) / 2 - stirlerr(x) - bd0(x, m)``, which keeps large ``y``,
small ``phi`` and ``p`` near 1 or 2 free of cancellation.  The distribution function is

::

    F(y) = exp(-lambda) + sum_{n >= 1} Pois(n; lambda) P(n alpha, y / tau)

with ``P`` the regularised lower incomplete gamma function, over the ``n`` whose Poisson
weight exceeds ``exp(-45)``.  The ends are exact, as in R's ``tweedie::dtweedie``: at
``p = 1`` ``y / phi ~ Poisson(mu / phi)`` (density ``Pois(y / phi; mu / phi) / phi`` on the
lattice ``phi k``, zero off it) and at ``p = 2`` ``Y ~ Gamma(shape 1 / phi, scale mu phi)``.
"""

from __future__ import annotations

import numpy as np

from ._tweedie_phi import fit_dispersion
from ._tweedie_special import MAX_BLOCK, gammainc, log_gamma_density, log_poisson, series_sum

__all__ = ["logpdf", "cdf", "ppf", "rvs", "dispersion_mle"]

_LOG_FLOOR = -45.0  # Poisson weights below exp(-45) cannot move a probability
_FUZZ = 1e-7  # R's tolerance for a non-integer Poisson count

_CHECKS = {
    "q": (lambda a: (a >= 0) & (a <= 1), "in [0, 1]"),
    "y": (lambda a: a >= 0, ">= 0"),
    "mu": (lambda a: np.isfinite(a) & (a > 0), "finite and > 0"),
    "phi": (lambda a: np.isfinite(a) & (a > 0), "finite and > 0"),
    "power": (lambda a: (a >= 1) & (a <= 2), "in [1, 2]"),
    "sample_weight": (lambda a: np.isfinite(a) & (a >= 0), "finite and >= 0"),
}


def _checked(value, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be numeric, got {value!r}") from None
    arr = arr.astype(np.float64)
    ok, what = _CHECKS[name]
    good = ok(arr)
    if not np.all(good):
        raise ValueError(f"{name} must be {what}, got {float(arr[~good].flat[0])!r}")
    return arr


def _prepare(**named) -> tuple[tuple, list[np.ndarray]]:
    """Convert, check and broadcast the arguments; return their shape and flat copies."""
    arrays = [_checked(value, name) for name, value in named.items()]
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(named, arrays))
        raise ValueError(f"arguments cannot be broadcast together: {shapes}") from None
    return arrays[0].shape, [a.ravel() for a in arrays]


def _shaped(out: np.ndarray, shape: tuple):
    out = out.reshape(shape)
    return out[()] if out.ndim == 0 else out


def _compound_params(mu, phi, p):
    """``lambda``, ``alpha`` and ``tau`` of the compound Poisson-Gamma form."""
    lam = np.exp((2 - p) * np.log(mu)) / (phi * (2 - p))
    tau = phi * (p - 1) * np.exp((p - 1) * np.log(mu))
    return lam, (2 - p) / (p - 1), tau


def _series_logpdf(y, jmax, lam, alpha, tau) -> np.ndarray:
    """``log f(y)`` for ``y > 0``, with the terms in Loader's saddle-point form."""
    def make_term(sel):
        ys, ls, als, ts = y[sel, None], lam[sel, None], alpha[sel, None], tau[sel, None]
        return lambda j, idx: log_poisson(j, ls[idx]) + log_gamma_density(ys[idx], j * als[idx], ts[idx])

    return series_sum(np.maximum(1.0, np.round(jmax)), 1 + alpha, make_term)


def _poisson_window(lam) -> tuple[np.ndarray, np.ndarray]:
    """First and last ``n >= 1`` with ``log Pois(n; lam) > _LOG_FLOOR`` (``last < first`` if none)."""
    mode = np.maximum(1.0, np.floor(lam))
    inside = log_poisson(mode, lam) > _LOG_FLOOR
    # bd0(n, lam) >= (n - lam)^2 / (2 max(n, lam)) >= 45 at distance d: outside for sure.
    d = 45 + np.sqrt(2025 + 90 * lam)
    ends = []
    for good, bad in ((mode, np.ceil(lam + d)), (mode, np.maximum(0.0, np.floor(lam - d)))):
        good, bad = good.copy(), bad.copy()
        while np.any(np.abs(bad - good) > 1):
            mid = np.floor((good + bad) / 2)
            ok = (np.abs(bad - good) > 1) & (log_poisson(np.maximum(mid, 1.0), lam) > _LOG_FLOOR)
            good = np.where(ok, mid, good)
            bad = np.where(ok | (np.abs(bad - good) <= 1), bad, mid)
        ends.append(good)
    return np.where(inside, ends[1], 1.0), np.where(inside, ends[0], 0.0)


def _compound_cdf(y, lam, alpha, tau) -> np.ndarray:
    """``exp(-lambda) + sum_n Pois(n; lambda) P(n alpha, y / tau)``, in blocks of terms."""
    first, last = _poisson_window(lam)
    counts = np.maximum(last - first + 1, 0).astype(np.int64)
    out = np.exp(-lam)
    ends = np.cumsum(counts)
    start = 0
    while start < y.size:
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + MAX_BLOCK, side="right")))
        rows = np.repeat(np.arange(start, stop), counts[start:stop])
        n = first[rows] + (np.arange(rows.size) - (np.cumsum(counts[start:stop]) - counts[start:stop])
                           [rows - start])
        lp = log_poisson(n, lam[rows])
        p, _ = gammainc(n * alpha[rows], y[rows] / tau[rows], _LOG_FLOOR - lp)
        out[start:stop] += np.bincount(rows - start, np.exp(lp) * p, minlength=stop - start)
        start = stop
    return np.minimum(out, 1.0)


def _lattice(y, phi) -> tuple[np.ndarray, np.ndarray]:
    """``y / phi`` rounded, and whether ``y`` lies on the lattice ``phi k`` (R's tolerance)."""
    k = y / phi
    kr = np.round(k)
    return kr, np.abs(k - kr) <= _FUZZ * np.maximum(1.0, k)


def _by_family(parts, at_inf: float, y, mu, phi, p) -> np.ndarray:
    """Apply ``parts`` (Poisson, Gamma, compound Poisson) to their rows; ``at_inf`` where ``y = inf``."""
    out = np.full(y.size, at_inf)
    fin = np.isfinite(y)
    for fn, rows in zip(parts, (fin & (p == 1), fin & (p == 2), fin & (p > 1) & (p < 2))):
        if rows.any():
            out[rows] = fn(y[rows], mu[rows], phi[rows], p[rows])
    return out


def _poisson_logpdf(y, mu, phi, p):
    k, on = _lattice(y, phi)
    with np.errstate(divide="ignore"):
        return np.where(on, log_poisson(k, mu / phi) - np.log(phi), -np.inf)


def _gamma_logpdf(y, mu, phi, p):
    shape, scale = 1 / phi, mu * phi
    out = np.where(shape < 1, np.inf, np.where(shape == 1, -np.log(scale), -np.inf))  # at y = 0
    pos = y > 0
    out[pos] = log_gamma_density(y[pos], shape[pos], scale[pos])
    return out


def _compound_logpdf(y, mu, phi, p):
    lam, alpha, tau = _compound_params(mu, phi, p)
    out = -lam
    pos = y > 0
    jmax = np.exp((2 - p[pos]) * np.log(y[pos])) / (phi[pos] * (2 - p[pos]))
    out[pos] = _series_logpdf(y[pos], jmax, lam[pos], alpha[pos], tau[pos])
    return out


def _poisson_cdf(y, mu, phi, p):
    k = np.floor(y / phi * (1 + _FUZZ) + _FUZZ)
    return gammainc(k + 1, mu / phi)[1]


def _gamma_cdf(y, mu, phi, p):
    return gammainc(1 / phi, y / (mu * phi))[0]


def _compound_cdf_rows(y, mu, phi, p):
    return _compound_cdf(y, *_compound_params(mu, phi, p))


def _logpdf_flat(y, mu, phi, p) -> np.ndarray:
    return _by_family((_poisson_logpdf, _gamma_logpdf, _compound_logpdf), -np.inf, y, mu, phi, p)


def _cdf_flat(y, mu, phi, p) -> np.ndarray:
    return _by_family((_poisson_cdf, _gamma_cdf, _compound_cdf_rows), 1.0, y, mu, phi, p)


def logpdf(y, mu, phi, power):
    """Log density of the Tweedie distribution (log mass at ``y = 0`` for ``1 <= power < 2``).

    Parameters
    ----------
    y : array_like
        Points, ``>= 0`` (``inf`` allowed).
    mu : array_like
        Means, ``> 0``.
    phi : array_like
        Dispersions, ``> 0``; ``Var Y = phi mu^power``.
    power : array_like
        Tweedie powers in ``[1, 2]``.  All four arguments broadcast together.

    Returns
    -------
    float or numpy.ndarray
        ``log f(y)``.  For ``1 < power < 2`` and ``y = 0`` it is ``log P(Y = 0) = -lambda``;
        at ``power = 1`` it is ``log Pois(y / phi; mu / phi) - log phi`` on the lattice
        ``y = phi k`` and ``-inf`` off it; at ``power = 2`` it is the Gamma log density
        (``+inf`` at ``y = 0`` when ``phi > 1``, as the density).

    Raises
    ------
    TypeError
        If ``y``, ``mu``, ``phi`` or ``power`` is not numeric.
    ValueError
        If one of them is out of its range (the message names it and shows the value) or
        their shapes do not broadcast.
    """
    shape, flat = _prepare(y=y, mu=mu, phi=phi, power=power)
    return _shaped(_logpdf_flat(*flat), shape)


def cdf(y, mu, phi, power):
    """Distribution function ``P(Y <= y)`` of the Tweedie distribution.

    Parameters
    ----------
    y : array_like
        Points, ``>= 0`` (``inf`` allowed).
    mu, phi, power : array_like
        Mean (``> 0``), dispersion (``> 0``) and power (in ``[1, 2]``), broadcast with ``y``.

    Returns
    -------
    float or numpy.ndarray
        ``F(y)``, including the mass at zero; absolute error about 1e-15.

    Raises
    ------
    TypeError, ValueError
        As :func:`logpdf`, for the same arguments.
    """
    shape, flat = _prepare(y=y, mu=mu, phi=phi, power=power)
    return _shaped(_cdf_flat(*flat), shape)


def _invert(q, mu, phi, p, lattice: bool) -> np.ndarray:
    """Smallest ``y`` with ``F(y) >= q`` by doubling then bisection (over ``k = y / phi`` on a lattice)."""
    unit = phi if lattice else np.ones_like(phi)

    def reached(k, sub):
        return _cdf_flat(k * unit[sub], mu[sub], phi[sub], p[sub]) >= q[sub]

    hi = np.ceil((mu + 10 * np.sqrt(phi * mu ** p) + 10 * phi) / unit)
    grow = np.flatnonzero(~reached(hi, np.arange(q.size)))
    while grow.size:  # ends at the float range at the latest
        hi[grow] *= 2
        grow = grow[np.isfinite(hi[grow])]
        grow = grow[~reached(hi[grow], grow)]
    lo = np.zeros(q.size)  # F(0) < q here
    idx = np.arange(q.size)
    while idx.size:
        mid = (lo[idx] + hi[idx]) / 2
        if lattice:
            mid = np.floor(mid)
        moving = (mid > lo[idx]) & (mid < hi[idx])
        idx, mid = idx[moving], mid[moving]
        ok = reached(mid, idx)
        hi[idx] = np.where(ok, mid, hi[idx])
        lo[idx] = np.where(ok, lo[idx], mid)
        idx = idx[hi[idx] - lo[idx] > (1.0 if lattice else 1e-15 * hi[idx])]
    return unit * hi


def _ppf_flat(q, mu, phi, p) -> np.ndarray:
    with np.errstate(divide="ignore"):
        lam = np.exp((2 - p) * np.log(mu)) / (phi * (2 - p))  # mu / phi at p = 1, inf at p = 2
    out = np.where(q >= 1, np.inf, 0.0)
    need = (q > np.exp(-lam)) & (q < 1)
    for lattice in (True, False):
        idx = np.flatnonzero(need & ((p == 1) == lattice))
        if idx.size:
            out[idx] = _invert(q[idx], mu[idx], phi[idx], p[idx], lattice)
    return out


def ppf(q, mu, phi, power):
    """Quantile function: the smallest ``y`` with ``P(Y <= y) >= q``.

    Parameters
    ----------
    q : array_like
        Probabilities in ``[0, 1]``.
    mu, phi, power : array_like
        Mean (``> 0``), dispersion (``> 0``) and power (in ``[1, 2]``), broadcast with ``q``.

    Returns
    -------
    float or numpy.ndarray
        The quantile: 0 where ``q`` is within the mass at zero, ``inf`` at ``q = 1``, a
        lattice point ``phi k`` at ``power = 1``, otherwise found by bisection on ``cdf`` to
        relative precision 1e-15.

    Raises
    ------
    TypeError, ValueError
        As :func:`logpdf`, with ``q`` (in ``[0, 1]``) in place of ``y``.
    """
    shape, flat = _prepare(q=q, mu=mu, phi=phi, power=power)
    return _shaped(_ppf_flat(*flat), shape)


def rvs(mu, phi, power, size=None, random_state=None):
    """Random draws from the Tweedie distribution.

    Parameters
    ----------
    mu, phi, power : array_like
        Mean (``> 0``), dispersion (``> 0``) and power (in ``[1, 2]``), broadcast together.
    size : int or tuple of int, optional
        Output shape; the parameters must broadcast to it.  By default their common shape.
    random_state : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Seed or generator, passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    float or numpy.ndarray
        Draws: ``phi Poisson(mu / phi)`` at ``power = 1``, ``Gamma(1 / phi, mu phi)`` at
        ``power = 2`` and the compound sum of ``Poisson(lambda)`` Gamma(``alpha``, ``tau``)
        variables in between.

    Raises
    ------
    TypeError
        If an argument is not numeric or ``random_state`` is not a seed or generator.
    ValueError
        If an argument is out of range or the shapes do not broadcast to ``size``.
    """
    shape, (mu, phi, p) = _prepare(mu=mu, phi=phi, power=power)
    if size is not None:
        size = (size,) if np.ndim(size) == 0 else tuple(size)
        try:
            mu, phi, p = (np.broadcast_to(a.reshape(shape), size).ravel() for a in (mu, phi, p))
        except (TypeError, ValueError):
            raise ValueError(f"size must be a shape the parameters (shape {shape}) broadcast to, "
                             f"got {size!r}") from None
        shape = size
    try:
        rng = np.random.default_rng(random_state)
    except (TypeError, ValueError):
        raise TypeError(f"random_state must be None, an int, a SeedSequence or a Generator, "
                        f"got {random_state!r}") from None
    out = np.empty(mu.size)
    pois, gam = p == 1, p == 2
    cp = ~(pois | gam)
    out[pois] = phi[pois] * rng.poisson(mu[pois] / phi[pois])
    out[gam] = rng.gamma(1 / phi[gam], mu[gam] * phi[gam])
    lam, alpha, tau = _compound_params(mu[cp], phi[cp], p[cp])
    count = rng.poisson(lam)
    draws = rng.gamma(np.where(count > 0, count * alpha, 1.0), tau)
    out[cp] = np.where(count > 0, draws, 0.0)
    return _shaped(out, shape)


def dispersion_mle(y, mu, power, sample_weight=None):
    """Maximum-likelihood dispersion ``phi`` given the means.

    Row ``i`` has dispersion ``phi / w_i`` (prior weights, as in R's ``glm``), and
    ``phi`` maximises ``sum_i log f(y_i; mu_i, phi / w_i, power)``; rows of weight 0 are
    ignored.  For ``1 < power < 2`` the search is Newton's method on the score in
    ``log phi`` from the Pearson estimate, with the derivatives of the series in closed
    form (one pass over the data per step, zeros in closed form), to relative precision
    about 1e-11; at ``power = 2`` it is Brent's method on the Gamma likelihood, to about
    1e-9.

    Parameters
    ----------
    y : array_like
        Responses, finite and ``>= 0`` (``> 0`` at ``power = 2``).
    mu : array_like
        Fitted means, ``> 0``, broadcast with ``y``.
    power : float
        Tweedie power in ``(1, 2]`` (at ``power = 1`` the support depends on ``phi``).
    sample_weight : array_like, optional
        Prior weights, finite and ``>= 0``, broadcast with ``y``; default all 1.

    Returns
    -------
    float
        The maximum-likelihood ``phi``.

    Raises
    ------
    TypeError
        If an argument is not numeric.
    ValueError
        If an argument is out of range, or no finite maximum exists (all ``y`` zero, or
        ``y = mu`` on every row at ``power = 2``).
    """
    p = _checked(power, "power")
    if p.ndim or p == 1:
        raise ValueError(f"power must be a single number in (1, 2], got {power!r}")
    p = float(p)
    w = np.ones(1) if sample_weight is None else sample_weight
    _, (y, mu, w) = _prepare(y=y, mu=mu, sample_weight=w)
    keep = w > 0
    if not keep.any():
        raise ValueError("sample_weight must have a positive entry, got all zeros")
    y, mu, w = y[keep], mu[keep], w[keep]
    if not np.all(np.isfinite(y)):
        raise ValueError(f"y must be finite, got {float(y[~np.isfinite(y)][0])!r}")
    if p < 2 and not np.any(y > 0):
        raise ValueError("y has no positive value: the likelihood increases with phi without bound")
    if p == 2 and not np.all(y > 0):
        raise ValueError(f"y must be > 0 at power = 2, got {float(y[y <= 0][0])!r}")
    return fit_dispersion(y, mu, w, p)[0]
