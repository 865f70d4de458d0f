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

import numpy as np
from scipy import stats
from sklearn.utils.validation import check_is_fitted

from ._checks import check_scalar, check_X
from ._unpenalised import (
    UnpenalisedFit,
    deviance,
    inverse_information,
    pearson_chi2,
    refit_deviance,
    resolve_dispersion,
    score_rows,
    unpenalised_fit,
)

__all__ = ["UnpenalisedFit", "InferenceMixin", "unpenalised_fit", "covariance_matrix",
           "coef_table", "fit_statistics", "factor_tests", "penalised_solution",
           "resolve_dispersion"]


def _covariance(fit: UnpenalisedFit, dispersion, robust: bool) -> tuple[np.ndarray, float, bool]:
    if not isinstance(robust, (bool, np.bool_)):
        raise TypeError(f"robust must be True or False, got {robust!r}")
    phi, estimated = resolve_dispersion(fit, dispersion)
    A = fit.design
    inv = inverse_information(A, fit.w, fit.mu, fit.power)
    if robust:
        s = score_rows(A, fit.y, fit.w, fit.mu, fit.power)
        return inv @ (s.T @ s) @ inv, phi, estimated
    return phi * inv, phi, estimated


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
        return float(fit.w @ logpdf(fit.y, fit.mu, phi, 2.0)), float(phi), k + (given is None)
    phi = dispersion_mle(fit.y, fit.mu, fit.power, fit.w) if given is None else given
    return float(np.sum(logpdf(fit.y, fit.mu, phi / fit.w, fit.power))), float(phi), k + (given is None)


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
    null = refit_deviance(fit, np.zeros(0, dtype=np.intp))
    loglik, ll_phi, k_aic = _loglik(fit, dev, dispersion)
    df = fit.df_resid
    return {
        "n_obs": fit.n_obs, "n_params": fit.n_params, "deviance": dev, "null_deviance": null,
        "df_resid": df, "df_null": fit.n_obs - 1, "pearson_chi2": pearson_chi2(fit),
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
        As for :func:`coef_table`; it decides between the chi-square and the F test.

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
        change = max(refit_deviance(fit, np.flatnonzero(member != g)) - dev, 0.0)
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
    if hasattr(estimator, "lambda_") and bool(getattr(estimator, "relax", False)):
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


_RAISES_DOC = """
        Raises
        ------
        ValueError, TypeError
            For bad arguments or data (see :meth:`unpenalised_fit`)."""


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
        power = getattr(self, "power_", self.power)  # HDTweedieCV may have chosen among several
        return unpenalised_fit(Xc, y, sample_weight, offset, power=power, intercept=b0,
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
        dispersion : None, "pearson" or float{dispersion}
        robust : bool, default=False
            Sandwich (HC0) covariance.

        Returns
        -------
        pandas.DataFrame
{raises}
        """
        return covariance_matrix(self.unpenalised_fit(X, y, sample_weight, offset),
                                 dispersion=dispersion, robust=robust)

    def fit_statistics(self, X, y, sample_weight=None, offset=None, *, dispersion=None):
        """Deviance, null deviance, df, dispersion, D², log-likelihood and AIC.

        See :func:`hdtweedie.inference.fit_statistics` for the conventions.

        Parameters
        ----------{data}
        dispersion : None, "pearson" or float{dispersion}

        Returns
        -------
        dict
{raises}
        """
        return fit_statistics(self.unpenalised_fit(X, y, sample_weight, offset),
                              dispersion=dispersion)

    def factor_tests(self, X, y, sample_weight=None, offset=None, *, dispersion=None):
        """Wald and likelihood-ratio (or F) tests of dropping each factor (group).

        See :func:`hdtweedie.inference.factor_tests`.

        Parameters
        ----------{data}
        dispersion : None, "pearson" or float{dispersion}

        Returns
        -------
        pandas.DataFrame
{raises}
        """
        return factor_tests(self.unpenalised_fit(X, y, sample_weight, offset),
                            dispersion=dispersion)


for _method in ("unpenalised_fit", "coef_table", "covariance_matrix", "fit_statistics",
                "factor_tests"):
    _fn = getattr(InferenceMixin, _method)
    _fn.__doc__ = (_fn.__doc__.replace("{data}", _DATA_DOC).replace("{raises}", _RAISES_DOC)
                   .replace("{dispersion}", "\n            As :meth:`coef_table`."))
del _method, _fn
