r"""Inference on unpenalised log-link Tweedie fits, as R's ``summary.glm``, ``anova`` and ``AIC``.

With prior weights ``w_i`` (row ``i`` has variance ``phi mu_i^p / w_i``), the design ``A``
(intercept, then the model's columns) and fitted means ``mu``::

    W_i       = w_i mu_i^(2-p)                         IRLS (Fisher) weights, log link
    cov       = phi (A' W A)^-1                         model-based
    cov_HC0   = (A' W A)^-1 A' diag(s_i^2) A (A' W A)^-1,  s_i = w_i (y_i - mu_i) mu_i^(1-p)
    phi_hat   = sum_i w_i (y_i - mu_i)^2 / mu_i^p / (n - k)       (Pearson)

``n`` counts the rows of positive weight and ``k`` the coefficients with the intercept.
Everything here is a plain function of an :class:`UnpenalisedFit` (data plus solution), so
a loaded model file and its data can use it as well as a fitted estimator
(:class:`InferenceMixin`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.utils.validation import check_is_fitted

from ._checks import check_offset, check_response_signal, check_scalar, check_weights, check_X, check_y
from ._distribution import unit_deviance
from ._glmfit import check_full_rank, dense_columns, fit_columns

__all__ = ["UnpenalisedFit", "InferenceMixin", "unpenalised_fit", "covariance_matrix",
           "coef_table", "fit_statistics", "factor_tests", "penalised_solution"]

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


def _bread(A: np.ndarray, w: np.ndarray, mu: np.ndarray, power: float) -> np.ndarray:
    """``(A' W A)^-1``, the unscaled inverse Fisher information."""
    info = (A * (w * mu ** (2.0 - power))[:, None]).T @ A
    return np.linalg.inv(info)


def _scores(A: np.ndarray, fit_y, w, mu, power) -> np.ndarray:
    """Per-row score contributions ``s_i a_i`` (unscaled by phi)."""
    return A * (w * (fit_y - mu) * mu ** (1.0 - power))[:, None]


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
    Xc, _ = check_X(X, min_samples=1)
    n, p = Xc.shape
    yc = check_y(y, n, power)
    w = check_weights(sample_weight, n)
    off = check_offset(offset, n)
    check_response_signal(yc, w)
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
    bread = _bread(A, fit.w, fit.mu, fit.power)
    step = bread @ _scores(A, fit.y, fit.w, fit.mu, fit.power).sum(axis=0)
    scale = _pearson(fit) / fit.n_obs
    se = np.sqrt(np.diag(bread) * (scale if scale > 0 else 1.0))
    worst = float(np.max(np.abs(step) / se))
    if not worst <= _STATIONARY_SE:
        raise ValueError(
            f"the coefficients are not the maximum-likelihood fit of this X, y, sample_weight and "
            f"offset (a Newton step of {worst:.3g} standard errors remains); pass the data the "
            "model was fitted on"
        )


def _pearson(fit: UnpenalisedFit) -> float:
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
    return _pearson(fit) / fit.df_resid, True


def _covariance(fit: UnpenalisedFit, dispersion, robust: bool) -> tuple[np.ndarray, float, bool]:
    if not isinstance(robust, (bool, np.bool_)):
        raise TypeError(f"robust must be True or False, got {robust!r}")
    phi, estimated = resolve_dispersion(fit, dispersion)
    A = fit.design
    bread = _bread(A, fit.w, fit.mu, fit.power)
    if robust:
        s = _scores(A, fit.y, fit.w, fit.mu, fit.power)
        return bread @ (s.T @ s) @ bread, phi, estimated
    return phi * bread, phi, estimated


def covariance_matrix(fit: UnpenalisedFit, *, dispersion=None, robust: bool = False):
    """Covariance matrix of the intercept and active coefficients.

    Parameters
    ----------
    fit : UnpenalisedFit
    dispersion : None, "pearson" or float
        See :func:`resolve_dispersion`; ignored when ``robust``.
    robust : bool, default=False
        The sandwich (HC0) covariance instead of ``phi (A' W A)^-1``.

    Returns
    -------
    pandas.DataFrame
        Square, indexed and labelled by ``fit.names``.

    Raises
    ------
    ValueError, TypeError
        For a bad ``dispersion`` or ``robust``.
    """
    import pandas as pd

    cov, _, _ = _covariance(fit, dispersion, robust)
    return pd.DataFrame(cov, index=list(fit.names), columns=list(fit.names))


def _reference(estimated: bool, robust: bool, df: int):
    """Student t on the residual df when phi is estimated (as R), else the normal."""
    return stats.t(df) if estimated and not robust else stats.norm()


def coef_table(fit: UnpenalisedFit, *, confidence_level: float = 0.95, dispersion=None,
               robust: bool = False):
    """Coefficients with standard errors, tests, Wald intervals and relativities.

    ``z_value = coef / se``.  When the dispersion is estimated (and not ``robust``)
    ``p_value`` and the interval use Student's t on ``fit.df_resid`` degrees of freedom,
    as R's ``summary.glm`` ("t value", "Pr(>|t|)"); otherwise the normal.  Relativities
    are ``exp`` of the coefficient and of the interval ends.

    Parameters
    ----------
    fit : UnpenalisedFit
    confidence_level : float, default=0.95
        In (0, 1).
    dispersion : None, "pearson" or float
        See :func:`resolve_dispersion`.
    robust : bool, default=False
        Sandwich (HC0) standard errors, with normal p-values and intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``"intercept"`` and the active feature names; columns ``coef, se,
        z_value, p_value, ci_lower, ci_upper, relativity, relativity_lower,
        relativity_upper``.  ``attrs`` holds ``dispersion``, ``dispersion_estimated`` and
        ``distribution`` (``"t(df)"`` or ``"normal"``).

    Raises
    ------
    ValueError, TypeError
        For a bad ``confidence_level``, ``dispersion`` or ``robust``.
    """
    import pandas as pd

    level = check_scalar(confidence_level, "confidence_level", float, low=0, high=1,
                         low_open=True, high_open=True)
    cov, phi, estimated = _covariance(fit, dispersion, robust)
    se = np.sqrt(np.diag(cov))
    z = fit.theta / se
    ref = _reference(estimated, robust, fit.df_resid)
    q = float(ref.ppf(0.5 + level / 2))
    lo, hi = fit.theta - q * se, fit.theta + q * se
    table = pd.DataFrame({
        "coef": fit.theta, "se": se, "z_value": z, "p_value": 2.0 * ref.sf(np.abs(z)),
        "ci_lower": lo, "ci_upper": hi, "relativity": np.exp(fit.theta),
        "relativity_lower": np.exp(lo), "relativity_upper": np.exp(hi),
    }, index=list(fit.names))
    table.attrs.update(dispersion=phi, dispersion_estimated=estimated,
                       distribution=f"t({fit.df_resid})" if estimated and not robust else "normal")
    return table


def deviance(fit: UnpenalisedFit, mu=None) -> float:
    """Weighted total deviance ``sum_i w_i d(y_i, mu_i)`` (R's ``deviance``), at ``fit.mu`` by default."""
    return float(fit.w @ unit_deviance(fit.y, fit.mu if mu is None else mu, fit.power))


def _refit_deviance(fit: UnpenalisedFit, keep: np.ndarray) -> float:
    """Deviance of the refit on the intercept and the columns ``keep`` of ``fit.X``."""
    start_b = np.zeros(fit.X.shape[1])
    start_b[keep] = fit.theta[1:][keep]
    b0, b = fit_columns(fit.X, fit.y, fit.w, fit.offset, fit.power, keep,
                        start=(fit.theta[0], start_b))
    return deviance(fit, np.exp(fit.offset + b0 + fit.X @ b))


def _loglik(fit: UnpenalisedFit, dev: float, dispersion) -> tuple[float | None, float | None, int]:
    """Log-likelihood, the dispersion it uses and the parameter count (see fit_statistics)."""
    from .tweedie import dispersion_mle, logpdf

    k = fit.n_params
    given = None if dispersion is None or isinstance(dispersion, str) else float(dispersion)
    if fit.power == 1:
        phi = 1.0 if given is None else given
        integer = np.all(fit.y == np.round(fit.y))
        if phi != 1.0 or dispersion == "pearson" or not integer:
            return None, None, k
        return float(fit.w @ logpdf(fit.y, fit.mu, 1.0, 1.0)), 1.0, k
    if fit.power == 2:
        phi = dev / fit.w.sum() if given is None else given
        return float(fit.w @ logpdf(fit.y, fit.mu, phi, 2.0)), phi, k + (given is None)
    phi = dispersion_mle(fit.y, fit.mu, fit.power, fit.w) if given is None else given
    return float(np.sum(logpdf(fit.y, fit.mu, phi / fit.w, fit.power))), phi, k + (given is None)


def fit_statistics(fit: UnpenalisedFit, *, dispersion=None) -> dict:
    """Deviance, degrees of freedom, dispersion, D² and, where defined, log-likelihood and AIC.

    The null model has the intercept and the offset only (as R's ``glm`` with an
    offset).  The log-likelihood follows R where R defines one:

    * ``power=1``: ``sum_i w_i log Pois(y_i; mu_i)`` (R's ``poisson()$aic``); ``None``
      when ``y`` is not integer-valued or the dispersion is not 1 (quasi-Poisson).
    * ``power=2``: ``sum_i w_i log Gamma(y_i; mu_i, phi)`` with ``phi = deviance / sum(w)``
      (R's ``Gamma()$aic``), phi counted as a parameter.
    * ``1 < power < 2``: ``sum_i log f(y_i; mu_i, phi / w_i)`` with the maximum-likelihood
      ``phi`` (:func:`hdtweedie.tweedie.dispersion_mle`), phi counted as a parameter.
      With unit weights this is ``tweedie::tweedie_AIC(fit, dispersion = phi) + 2``;
      ``tweedie_AIC``'s default ``phi = deviance / sum(w)`` and weighted log densities
      differ from it.

    A numeric ``dispersion`` is used as the known phi of the likelihood instead (not
    counted as a parameter).  ``aic = -2 loglik + 2 n_params_aic``.

    Parameters
    ----------
    fit : UnpenalisedFit
    dispersion : None, "pearson" or float
        See :func:`resolve_dispersion`.

    Returns
    -------
    dict
        ``n_obs, n_params, deviance, null_deviance, df_resid, df_null, pearson_chi2,
        dispersion, dispersion_estimated, deviance_per_df, d2, loglik, loglik_dispersion,
        n_params_aic, aic`` (``loglik``, ``loglik_dispersion`` and ``aic`` are ``None``
        where the likelihood is not defined).

    Raises
    ------
    ValueError, TypeError
        For a bad ``dispersion``.
    """
    phi, estimated = resolve_dispersion(fit, dispersion)
    dev = deviance(fit)
    null = _refit_deviance(fit, np.zeros(0, dtype=np.intp))
    loglik, ll_phi, k_aic = _loglik(fit, dev, dispersion)
    df = fit.df_resid
    return {
        "n_obs": fit.n_obs, "n_params": fit.n_params, "deviance": dev, "null_deviance": null,
        "df_resid": df, "df_null": fit.n_obs - 1, "pearson_chi2": _pearson(fit),
        "dispersion": phi, "dispersion_estimated": estimated,
        "deviance_per_df": dev / df if df > 0 else None,
        "d2": 1.0 - dev / null if null > 0 else None,
        "loglik": loglik, "loglik_dispersion": ll_phi, "n_params_aic": k_aic,
        "aic": None if loglik is None else -2.0 * loglik + 2.0 * k_aic,
    }


def factor_tests(fit: UnpenalisedFit, *, dispersion=None):
    """Per factor (group of active columns): a joint Wald test and the test of dropping it.

    * Wald: ``b_g' V_gg^-1 b_g`` against chi-square on the group's size ``df``, with ``V``
      the model-based covariance.
    * Likelihood ratio: the deviance change ``D(without g) - D`` of refitting without the
      group.  With a known dispersion (Poisson, or a number) the statistic is
      ``change / phi`` against chi-square (R's ``anova(..., test="Chisq")``); with an
      estimated one, ``F = change / df / phi_hat`` on ``(df, df_resid)`` with the Pearson
      ``phi_hat`` of the full model (R's ``anova(reduced, full, test="F")``; R's ``drop1``
      divides by ``deviance / df_resid`` instead).

    Parameters
    ----------
    fit : UnpenalisedFit
    dispersion : None, "pearson" or float
        See :func:`resolve_dispersion`.

    Returns
    -------
    pandas.DataFrame
        One row per group, in order of first appearance; columns ``wald_df,
        wald_statistic, wald_p_value, lr_df, deviance_change, lr_test`` (``"chi2"`` or
        ``"F"``), ``lr_statistic, lr_p_value``.

    Raises
    ------
    ValueError, TypeError
        For a bad ``dispersion``.
    """
    import pandas as pd

    cov, phi, estimated = _covariance(fit, dispersion, False)
    dev = deviance(fit)
    labels = list(dict.fromkeys(fit.groups))
    member = np.asarray([labels.index(g) for g in fit.groups], dtype=np.intp)
    rows = []
    for g in range(len(labels)):
        idx = np.flatnonzero(member == g)
        b = fit.theta[1 + idx]
        wald = float(b @ np.linalg.solve(cov[np.ix_(1 + idx, 1 + idx)], b))
        change = max(_refit_deviance(fit, np.flatnonzero(member != g)) - dev, 0.0)
        df = idx.size
        if estimated:
            stat = change / df / phi
            p_lr = float(stats.f.sf(stat, df, fit.df_resid))
        else:
            stat = change / phi
            p_lr = float(stats.chi2.sf(stat, df))
        rows.append({"wald_df": df, "wald_statistic": wald, "wald_p_value": float(stats.chi2.sf(wald, df)),
                     "lr_df": df, "deviance_change": change, "lr_test": "F" if estimated else "chi2",
                     "lr_statistic": stat, "lr_p_value": p_lr})
    return pd.DataFrame(rows, index=pd.Index(labels, name="group"))


def penalised_solution(estimator) -> tuple[float, np.ndarray, np.ndarray]:
    """The unpenalised solution of a fitted ``HDTweedie``/``HDTweedieCV``, for inference.

    Only ``HDTweedieCV(relax=True)`` has one: the refit at the selected lambda, whose
    active columns are those with a non-zero coefficient.

    Parameters
    ----------
    estimator : HDTweedie or HDTweedieCV
        Fitted.

    Returns
    -------
    intercept : float
    coef : ndarray of shape (n_features,)
    active : ndarray of bool, shape (n_features,)

    Raises
    ------
    ValueError
        For a lasso solution (a path, or CV without ``relax``): its coefficients are shrunk
        towards zero, so standard errors and tests do not apply.
    """
    check_is_fitted(estimator, "coef_")
    if hasattr(estimator, "lambda_") and getattr(estimator, "relax", False) is True:
        coef = np.asarray(estimator.coef_, dtype=np.float64)
        return float(estimator.intercept_), coef, coef != 0
    raise ValueError(
        f"{type(estimator).__name__}: the lasso coefficients are shrunk towards zero, so "
        "standard errors, p-values and tests do not apply to them (not even at lambda 0, "
        "which is solved only to the path's tolerance); use HDTweedieCV(relax=True), which "
        "refits the selected factors without penalty, or TweedieGLM on the chosen columns"
    )


_DATA_DOC = """
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)
            The data the model was fitted on.
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        offset : array-like of shape (n_samples,), optional"""


class InferenceMixin:
    """Standard errors, tests and fit statistics for an estimator with an unpenalised solution.

    The estimator supplies ``power``, ``n_features_in_``, optionally
    ``feature_names_in_``, ``group_labels_``/``group_index_`` (for
    :meth:`factor_tests`) and the hook ``_unpenalised_solution()`` returning
    ``(intercept, coef, active)`` or raising ValueError.  The default hook is
    :func:`penalised_solution` (``HDTweedieCV(relax=True)``).  The data are not stored: every
    method takes the training ``X, y, sample_weight, offset`` again, and refuses data whose
    maximum-likelihood fit the solution is not.
    """

    def _unpenalised_solution(self) -> tuple[float, np.ndarray, np.ndarray]:
        return penalised_solution(self)

    def unpenalised_fit(self, X, y, sample_weight=None, offset=None) -> UnpenalisedFit:
        """The solution with its data, for the plain functions of :mod:`hdtweedie.inference`.

        Parameters
        ----------{data}

        Returns
        -------
        UnpenalisedFit

        Raises
        ------
        ValueError, TypeError
            For bad data, a singular design, data the model was not fitted on, or an
            estimator without an unpenalised solution.
        """
        check_is_fitted(self, "coef_")
        b0, b, active = self._unpenalised_solution()
        Xc, _ = check_X(X, self, reset=False, min_samples=1)
        names = getattr(self, "feature_names_in_", None)
        groups = None
        if getattr(self, "groups", None) is not None and hasattr(self, "group_index_"):
            groups = [self.group_labels_[i] for i in self.group_index_]
        return unpenalised_fit(Xc, y, sample_weight, offset, power=self.power, intercept=b0,
                               coef=b, active=active, feature_names=names, groups=groups)

    def coef_table(self, X, y, sample_weight=None, offset=None, *, confidence_level=0.95,
                   dispersion=None, robust=False):
        """Coefficient table: estimates, standard errors, tests, intervals, relativities.

        See :func:`hdtweedie.inference.coef_table`.

        Parameters
        ----------{data}
        confidence_level : float, default=0.95
        dispersion : None, "pearson" or float
            ``None``: 1 for Poisson, else Pearson's estimate; ``"pearson"``: estimated at
            every power; a positive number: known.
        robust : bool, default=False
            Sandwich (HC0) standard errors.

        Returns
        -------
        pandas.DataFrame

        Raises
        ------
        ValueError, TypeError
            For bad arguments or data (see :meth:`unpenalised_fit`).
        """
        return coef_table(self.unpenalised_fit(X, y, sample_weight, offset),
                          confidence_level=confidence_level, dispersion=dispersion, robust=robust)

    def covariance_matrix(self, X, y, sample_weight=None, offset=None, *, dispersion=None,
                          robust=False):
        """Covariance matrix of the intercept and the active coefficients.

        See :func:`hdtweedie.inference.covariance_matrix`.

        Parameters
        ----------{data}
        dispersion : None, "pearson" or float
            As :meth:`coef_table`.
        robust : bool, default=False
            Sandwich (HC0) covariance.

        Returns
        -------
        pandas.DataFrame

        Raises
        ------
        ValueError, TypeError
            For bad arguments or data.
        """
        return covariance_matrix(self.unpenalised_fit(X, y, sample_weight, offset),
                                 dispersion=dispersion, robust=robust)

    def fit_statistics(self, X, y, sample_weight=None, offset=None, *, dispersion=None):
        """Deviance, null deviance, df, dispersion, D², log-likelihood and AIC.

        See :func:`hdtweedie.inference.fit_statistics` for the conventions.

        Parameters
        ----------{data}
        dispersion : None, "pearson" or float
            As :meth:`coef_table`.

        Returns
        -------
        dict

        Raises
        ------
        ValueError, TypeError
            For bad arguments or data.
        """
        return fit_statistics(self.unpenalised_fit(X, y, sample_weight, offset),
                              dispersion=dispersion)

    def factor_tests(self, X, y, sample_weight=None, offset=None, *, dispersion=None):
        """Wald and likelihood-ratio (or F) tests of dropping each factor (group).

        See :func:`hdtweedie.inference.factor_tests`.

        Parameters
        ----------{data}
        dispersion : None, "pearson" or float
            As :meth:`coef_table`.

        Returns
        -------
        pandas.DataFrame

        Raises
        ------
        ValueError, TypeError
            For bad arguments or data.
        """
        return factor_tests(self.unpenalised_fit(X, y, sample_weight, offset),
                            dispersion=dispersion)


for _method in ("unpenalised_fit", "coef_table", "covariance_matrix", "fit_statistics",
                "factor_tests"):
    _fn = getattr(InferenceMixin, _method)
    _fn.__doc__ = _fn.__doc__.replace("{data}", _DATA_DOC)
del _method, _fn
