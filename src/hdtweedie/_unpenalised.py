"""An unpenalised log-link Tweedie fit with its data, validated, and the quantities inference uses.

With prior weights ``w_i``, the design ``A`` (intercept, then the active columns) and fitted
means ``mu``: Fisher weights ``W_i = w_i mu_i^(2-p)``, the unscaled inverse information
``(A' W A)^-1``, score rows ``w_i (y_i - mu_i) mu_i^(1-p) a_i`` and the Pearson statistic
``sum_i w_i (y_i - mu_i)^2 / mu_i^p``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_data, check_scalar
from ._distribution import unit_deviance
from ._glmfit import check_full_rank, dense_columns, fit_columns

# A solution whose Newton step on the caller's data exceeds this many standard errors is not
# the maximum-likelihood fit of that data (different data, or an unconverged fit).
_STATIONARY_SE = 1e-4
_DISPERSIONS = ("pearson",)


@dataclass(frozen=True)
class UnpenalisedFit:
    """An unpenalised fit with its data: the rows of positive weight and the active columns.

    Build it with :func:`unpenalised_fit`, which validates the inputs.

    Attributes
    ----------
    names : tuple of str
        ``"intercept"``, then the names of the active columns.
    groups : tuple
        Group (factor) label of each active column.
    X : ndarray of shape (n_obs, n_params - 1)
        Active columns, dense.
    y, w, offset, mu : ndarray of shape (n_obs,)
        Response, prior weights, offset and fitted means.
    power : float
    theta : ndarray of shape (n_params,)
        Intercept, then the active coefficients.
    """

    names: tuple
    groups: tuple
    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    offset: np.ndarray
    mu: np.ndarray
    power: float
    theta: np.ndarray

    @property
    def n_obs(self) -> int:
        """Rows of positive weight."""
        return int(self.y.shape[0])

    @property
    def n_params(self) -> int:
        """Coefficients, with the intercept."""
        return int(self.theta.shape[0])

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom ``n_obs - n_params``."""
        return self.n_obs - self.n_params

    @property
    def design(self) -> np.ndarray:
        """The intercept column, then ``X``."""
        return np.column_stack([np.ones(self.n_obs), self.X])


def _as_vector(value, name: str, length: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numbers, got {value!r}") from None
    if arr.shape[0] != length:
        raise ValueError(f"{name} has {arr.shape[0]} values, expected {length} (one per column of X)")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr[~np.isfinite(arr)][:3]}")
    return arr


def _active_mask(active, p: int) -> np.ndarray:
    if active is None:
        return np.ones(p, dtype=bool)
    mask = np.asarray(active).reshape(-1)
    if mask.dtype != bool:
        raise TypeError(f"active must be a boolean mask over the columns, got dtype {mask.dtype}")
    if mask.shape[0] != p:
        raise ValueError(f"active has {mask.shape[0]} values, expected {p} (one per column of X)")
    return mask


def _labels(values, name: str, p: int, default) -> list:
    if values is None:
        return list(default)
    out = list(values)
    if len(out) != p:
        raise ValueError(f"{name} has {len(out)} entries, expected {p} (one per column of X)")
    return out


def inverse_information(A: np.ndarray, w: np.ndarray, mu: np.ndarray, power: float) -> np.ndarray:
    """``(A' W A)^-1``, the unscaled inverse Fisher information."""
    info = (A * (w * mu ** (2.0 - power))[:, None]).T @ A
    return np.linalg.inv(info)


def score_rows(A: np.ndarray, y: np.ndarray, w: np.ndarray, mu: np.ndarray, power: float) -> np.ndarray:
    """Per-row score contributions ``w_i (y_i - mu_i) mu_i^(1-p) a_i`` (times phi)."""
    return A * (w * (y - mu) * mu ** (1.0 - power))[:, None]


def unpenalised_fit(X, y, sample_weight=None, offset=None, *, power, intercept, coef, active=None,
                    feature_names=None, groups=None) -> UnpenalisedFit:
    """Validate data and an unpenalised solution for inference.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        The data the solution was fitted on.
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,), optional
        Prior weights (row ``i`` has dispersion ``phi / w_i``), as in R's ``glm``.
    offset : array-like of shape (n_samples,), optional
    power : float
        Tweedie power in [1, 2].
    intercept : float
    coef : array-like of shape (n_features,)
    active : array-like of bool, shape (n_features,), optional
        Columns in the model (default all); the others must have coefficient 0.
    feature_names : sequence of str, optional
        Default ``x0, x1, ...``.
    groups : sequence, optional
        Group (factor) label per column, for :func:`factor_tests`; default each column alone.

    Returns
    -------
    UnpenalisedFit

    Raises
    ------
    ValueError
        If an input is malformed, the active design is singular (the aliased columns are
        named), or the solution is not the maximum-likelihood fit of this data.
    TypeError
        If an input has the wrong type.
    """
    power = check_scalar(power, "power", float, low=1, high=2)
    Xc, _, yc, w, off = check_data(X, y, sample_weight, offset, power, min_samples=1)
    p = Xc.shape[1]
    b0 = check_scalar(intercept, "intercept", float)
    b = _as_vector(coef, "coef", p)
    mask = _active_mask(active, p)
    if np.any(b[~mask] != 0):
        raise ValueError("coef must be zero outside the active columns")
    names = [str(s) for s in _labels(feature_names, "feature_names", p, (f"x{j}" for j in range(p)))]
    labels = _labels(groups, "groups", p, names)
    cols = np.flatnonzero(mask)
    rows = w > 0
    Xa = dense_columns(Xc, cols)[rows]
    fit = UnpenalisedFit(
        names=("intercept", *(names[j] for j in cols)), groups=tuple(labels[j] for j in cols),
        X=Xa, y=yc[rows], w=w[rows], offset=off[rows],
        mu=np.exp(off[rows] + b0 + Xa @ b[cols]), power=power,
        theta=np.concatenate([[b0], b[cols]]),
    )
    A = fit.design
    check_full_rank(A, list(fit.names))
    if not np.all(np.isfinite(fit.mu)) or np.any(fit.mu <= 0):
        raise ValueError("the fitted means overflow or underflow on this data; the solution does "
                         "not fit it")
    _check_stationary(fit, A)
    return fit


def _check_stationary(fit: UnpenalisedFit, A: np.ndarray) -> None:
    inv = inverse_information(A, fit.w, fit.mu, fit.power)
    step = inv @ score_rows(A, fit.y, fit.w, fit.mu, fit.power).sum(axis=0)
    scale = pearson_chi2(fit) / fit.n_obs
    se = np.sqrt(np.diag(inv) * (scale if scale > 0 else 1.0))
    worst = float(np.max(np.abs(step) / se))
    if not worst <= _STATIONARY_SE:
        raise ValueError(
            f"the coefficients are not the maximum-likelihood fit of this X, y, sample_weight and "
            f"offset (a Newton step of {worst:.3g} standard errors remains); pass the data the "
            "model was fitted on"
        )


def pearson_chi2(fit: UnpenalisedFit) -> float:
    """Pearson's statistic ``sum_i w_i (y_i - mu_i)^2 / mu_i^p``."""
    return float(np.sum(fit.w * (fit.y - fit.mu) ** 2 / fit.mu ** fit.power))


def resolve_dispersion(fit: UnpenalisedFit, dispersion=None) -> tuple[float, bool]:
    """The dispersion ``phi`` and whether it was estimated.

    Parameters
    ----------
    fit : UnpenalisedFit
    dispersion : None, "pearson" or float
        ``None``: 1 at ``power=1`` (Poisson), else the Pearson estimate (R's
        ``summary.glm``); ``"pearson"``: the Pearson estimate at every power (at ``power=1``
        the quasi-Poisson model); a positive number: that value, taken as known.

    Returns
    -------
    phi : float
    estimated : bool

    Raises
    ------
    ValueError
        If ``dispersion`` is an unknown string, not positive and finite, or has to be
        estimated without residual degrees of freedom.
    TypeError
        If ``dispersion`` is not None, a string or a number.
    """
    if isinstance(dispersion, str):
        if dispersion not in _DISPERSIONS:
            raise ValueError(f"dispersion must be None, 'pearson' or a positive number, got "
                             f"{dispersion!r}")
    elif dispersion is not None:
        return check_scalar(dispersion, "dispersion", float, low=0, low_open=True), False
    if dispersion is None and fit.power == 1:
        return 1.0, False
    if fit.df_resid <= 0:
        raise ValueError(f"dispersion: no residual degrees of freedom ({fit.n_obs} rows, "
                         f"{fit.n_params} coefficients) to estimate it; pass a number")
    return pearson_chi2(fit) / fit.df_resid, True


def deviance(fit: UnpenalisedFit, mu=None) -> float:
    """Weighted total deviance ``sum_i w_i d(y_i, mu_i)`` (R's ``deviance``), at ``fit.mu`` by default."""
    return float(fit.w @ unit_deviance(fit.y, fit.mu if mu is None else mu, fit.power))


def refit_deviance(fit: UnpenalisedFit, keep: np.ndarray) -> float:
    """Deviance of the refit on the intercept and the columns ``keep`` of ``fit.X``."""
    start_b = np.zeros(fit.X.shape[1])
    start_b[keep] = fit.theta[1:][keep]
    b0, b = fit_columns(fit.X, fit.y, fit.w, fit.offset, fit.power, keep,
                        start=(fit.theta[0], start_b))
    return deviance(fit, np.exp(fit.offset + b0 + fit.X @ b))
