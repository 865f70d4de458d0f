r"""Choice of the Tweedie power by profile likelihood.

For each power ``p`` of a grid, :func:`profile_power` fits the unpenalised Tweedie GLM with
log link (all columns of ``X`` and an intercept), then the maximum-likelihood dispersion
``phi`` given its means, and records the log-likelihood

::

    L(p) = max_phi sum_i log f(y_i; mu_i(p), phi / w_i, p)

with ``w_i`` the sample weights taken as prior weights (row ``i`` has dispersion
``phi / w_i``; rows of weight 0 do not count).  The best power maximises ``L``; the
likelihood-ratio interval holds the powers with ``L(p) >= L_max - chi2_{1, level} / 2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_offset, check_response_signal, check_weights, check_X, check_y, named
from ._groups import make_groups
from ._relax import refit_unpenalized
from ._tweedie_phi import _brent, fit_dispersion

__all__ = ["PowerProfile", "profile_power"]

_REFINE_XTOL = 2e-4  # precision in p of the refined maximum


@dataclass(frozen=True)
class PowerProfile:
    """Profile log-likelihood of the Tweedie power, as returned by :func:`profile_power`.

    Attributes
    ----------
    powers : numpy.ndarray
        The powers evaluated, increasing: the grid, and with ``refined`` the points
        evaluated while refining the maximum.
    loglik : numpy.ndarray
        ``L(p)`` at each power.
    phi : numpy.ndarray
        The maximum-likelihood dispersion at each power.
    power : float
        The best power.
    dispersion : float
        The maximum-likelihood dispersion at ``power``.
    max_loglik : float
        ``L(power)``.
    ci : tuple of float
        Likelihood-ratio confidence interval for the power, from a cubic spline through
        ``(powers, loglik)``; an end is ``nan`` when the profile does not fall to the
        threshold within the grid.
    conf_level : float
        Confidence level of ``ci``.
    refined : bool
        Whether ``power`` was refined between grid points.
    """

    powers: np.ndarray
    loglik: np.ndarray
    phi: np.ndarray
    power: float
    dispersion: float
    max_loglik: float
    ci: tuple[float, float]
    conf_level: float
    refined: bool

    @property
    def threshold(self) -> float:
        """Log-likelihood level that bounds the confidence interval."""
        return self.max_loglik - _chi2_1(self.conf_level) / 2

    def plot(self, ax=None):
        """Plot the profile log-likelihood with the maximum and the confidence interval.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
        self._draw(ax, self.powers[0], self.powers[-1], legend=True)
        lo, hi = self.ci
        span = self.powers[-1] - self.powers[0]
        if np.isfinite(lo) and np.isfinite(hi) and hi - lo < span / 8:
            # A narrow interval is invisible at the scale of the grid: zoom in on it, in the
            # lower corner on the side where the profile falls least.
            left = self.loglik[0] >= self.loglik[-1]
            inset = ax.inset_axes([0.06 if left else 0.56, 0.06, 0.38, 0.38])
            pad = max(hi - lo, 1e-3)
            self._draw(inset, max(lo - pad, self.powers[0]), min(hi + pad, self.powers[-1]), legend=False)
            inset.tick_params(labelsize="x-small")
        ax.set_xlabel("Tweedie power p")
        ax.set_ylabel("log-likelihood minus its maximum")
        ax.set_title("Profile likelihood of the Tweedie power")
        return ax

    def _draw(self, ax, a: float, b: float, legend: bool) -> None:
        """The profile relative to its maximum, on ``[a, b]``, with the interval and the maximum."""
        top = self.max_loglik
        fine = np.linspace(a, b, 400)
        if self.powers.size >= 3:
            ax.plot(fine, _spline(self.powers, self.loglik)(fine) - top, color="C0", lw=1.5,
                    label="profile log-likelihood")
        inside = (self.powers >= a) & (self.powers <= b)
        ax.plot(self.powers[inside], self.loglik[inside] - top, "o", color="C0", ms=4,
                label="evaluated powers")
        lo, hi = self.ci
        pct = f"{100 * self.conf_level:g}%"
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axvspan(lo, hi, color="C1", alpha=0.2, label=f"{pct} interval [{lo:.3f}, {hi:.3f}]")
        ax.axhline(self.threshold - top, color="C1", ls="--", lw=1, label=f"{pct} likelihood-ratio level")
        ax.axvline(self.power, color="C3", lw=1, label=f"p = {self.power:.3f}, phi = {self.dispersion:.4g}")
        low = min(self.threshold - top, float(np.min(self.loglik[inside] - top, initial=0.0)))
        if not legend:  # the zoom shows the top of the profile down to twice the level
            low = 2 * (self.threshold - top)
        ax.set_ylim(1.08 * low, -0.12 * low)
        ax.set_xlim(a, b)
        if legend:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small",
                      frameon=False)


def _chi2_1(level: float) -> float:
    """Quantile of the chi-squared law with one degree of freedom: the squared normal quantile."""
    from statistics import NormalDist

    return NormalDist().inv_cdf((1 + level) / 2) ** 2


def _spline(x: np.ndarray, y: np.ndarray):
    from scipy.interpolate import CubicSpline

    return CubicSpline(x, y)


def _check_powers(powers) -> np.ndarray:
    try:
        p = np.asarray(powers, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"powers must be a sequence of numbers, got {powers!r}") from None
    if p.ndim == 0:
        p = p[None]
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"powers must be a non-empty 1-d sequence, got shape {p.shape}")
    bad = ~(np.isfinite(p) & (p > 1) & (p <= 2))
    if bad.any():
        raise ValueError(f"powers must be finite and in (1, 2] (at p = 1 the likelihood is "
                         f"defined only on the lattice phi k), got {float(p[bad][0])!r}")
    return np.unique(p)


def _interval(powers, loglik, best: float, level: float) -> tuple[float, float]:
    """Where the spline through the profile crosses ``level``, either side of ``best``."""
    if powers.size < 3:
        return math.nan, math.nan
    spline = _spline(powers, loglik)
    ends = []
    for side in (np.linspace(best, powers[0], 801), np.linspace(best, powers[-1], 801)):
        below = np.flatnonzero(spline(side) < level)
        if below.size == 0:
            ends.append(math.nan)
            continue
        k = below[0]
        a, b = side[k - 1], side[k]
        for _ in range(60):  # bisection on the spline
            m = (a + b) / 2
            a, b = (m, b) if spline(m) >= level else (a, m)
        ends.append(float((a + b) / 2))
    return ends[0], ends[1]


class _Profiler:
    """``L(p)`` by a GLM fit and a dispersion fit, warm-started from the previous power."""

    def __init__(self, X, y, w, offset):
        self.X, self.y, self.w, self.offset = X, y, w, offset
        self.cols = np.arange(X.shape[1])
        self.b0 = math.log(float(w @ y) / float(w @ np.exp(offset)))
        self.b = np.zeros(X.shape[1])
        self.keep = w > 0
        self.seen: dict[float, tuple[float, float, float, np.ndarray]] = {}

    def __call__(self, p: float) -> tuple[float, float]:
        """Log-likelihood and dispersion at power ``p``."""
        if p not in self.seen:
            near = sorted(self.seen, key=lambda q: abs(q - p))[:2]
            b0, b, start = (self.b0, self.b, None) if not near else (
                self.seen[near[0]][2], self.seen[near[0]][3], self.seen[near[0]][1])
            if len(near) == 2:  # log phi is smooth in p: extrapolate from the two nearest
                (q0, q1), (t0, t1) = near, (math.log(self.seen[q][1]) for q in near)
                start = math.exp(t0 + (t1 - t0) / (q1 - q0) * (p - q0))
            b0, b = refit_unpenalized(self.X, self.y, self.w, self.offset, p, self.cols, b0, b)
            mu = np.exp(self.offset + b0 + self.X @ b)
            k = self.keep
            phi, loglik = fit_dispersion(self.y[k], mu[k], self.w[k], p, start=start)
            self.seen[p] = (loglik, phi, b0, b)
        return self.seen[p][0], self.seen[p][1]


def profile_power(X, y, powers, sample_weight=None, offset=None, *, groups=None, refine=True,
                  conf_level=0.95):
    """Profile likelihood of the Tweedie power of an unpenalised log-link GLM.

    At each power of ``powers`` the GLM is fitted by Newton's method, then ``phi`` by
    maximum likelihood given the fitted means, with the series density of
    :mod:`hdtweedie.tweedie`; the log-likelihood is defined in :mod:`hdtweedie.profile`.

    Parameters
    ----------
    X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)
        Design matrix (encoded rating factors); an intercept is always added.
    y : array-like of shape (n_samples,)
        Non-negative response (positive when ``powers`` contains 2).
    powers : sequence of float
        Powers to evaluate, each finite and in ``(1, 2]``, in any order (duplicates are
        dropped); 7 to 11 points over the plausible range give a useful interval.
    sample_weight : array-like of shape (n_samples,), optional
        Prior weights: row ``i`` has dispersion ``phi / w_i``.  Default all 1.
    offset : array-like of shape (n_samples,), optional
        Added to the linear predictor: log exposure for pricing.
    groups : sequence of hashable or dict, optional
        Grouping of the columns as for :class:`hdtweedie.HDTweedie`; it is checked
        against ``X`` so that a call can mirror the estimator's, and it does not change
        the unpenalised fit.
    refine : bool, default True
        If the best grid power is inside the grid, maximise ``L(p)`` between its two
        neighbours by Brent's method (to about 2e-4 in ``p``, each step one more pair of
        fits) and report that maximum; otherwise the best grid point.
    conf_level : float, default 0.95
        Level of the likelihood-ratio interval for the power, in ``(0, 1)``.

    Returns
    -------
    PowerProfile
        The profile (``powers``, ``loglik``, ``phi``), the best ``power`` with its
        ``dispersion``, and the interval ``ci``.

    Raises
    ------
    TypeError
        If ``X``, ``y`` or ``powers`` is not numeric, or ``refine`` not a bool.
    ValueError
        If an input is out of range or of the wrong shape (the message names it), ``y``
        is zero on every row of positive weight, or a dispersion has no finite maximum.
    """
    grid = _check_powers(powers)
    if not isinstance(refine, (bool, np.bool_)):
        raise TypeError(f"refine must be True or False, got {refine!r}")
    if isinstance(conf_level, bool) or not isinstance(conf_level, (int, float, np.floating)) \
            or not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be a number in (0, 1), got {conf_level!r}")
    X, names = check_X(X)
    n = X.shape[0]
    y = check_y(y, n, float(grid.max()))
    w = check_weights(sample_weight, n)
    off = check_offset(offset, n)
    check_response_signal(y, w)
    named("groups", make_groups, groups, X.shape[1], names)

    profiler = _Profiler(X, y, w, off)
    for p in grid:
        profiler(float(p))
    loglik = np.array([profiler(float(p))[0] for p in grid])
    k = int(np.argmax(loglik))
    best, refined = float(grid[k]), False
    if refine and 0 < k < grid.size - 1:
        best = _brent(lambda q: -profiler(q)[0], float(grid[k - 1]), best, float(grid[k + 1]),
                      -loglik[k], _REFINE_XTOL)
        refined = True
    pts = np.array(sorted(profiler.seen))
    ll = np.array([profiler.seen[q][0] for q in pts])
    phis = np.array([profiler.seen[q][1] for q in pts])
    shown = pts if refined else grid
    keep = np.isin(pts, shown)
    pts, ll, phis = pts[keep], ll[keep], phis[keep]
    for arr in (pts, ll, phis):
        arr.flags.writeable = False
    top, phi_best = profiler(best)
    ci = _interval(pts, ll, best, top - _chi2_1(float(conf_level)) / 2)
    return PowerProfile(powers=pts, loglik=ll, phi=phis, power=best, dispersion=phi_best,
                        max_loglik=top, ci=ci, conf_level=float(conf_level), refined=refined)
