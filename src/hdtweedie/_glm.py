"""The unpenalised log-link Tweedie GLM ``TweedieGLM``, with the inference of R's ``glm``."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._checks import check_data, check_offset, check_scalar, check_weights, check_X, check_y
from ._distribution import d2_score
from ._glmfit import check_full_rank, dense_columns, fit_columns
from ._groups import make_groups
from ._options import check_power
from .inference import InferenceMixin


class TweedieGLM(InferenceMixin, RegressorMixin, BaseEstimator):
    """Unpenalised Tweedie GLM with log link, fitted by Newton's method: R's ``glm``.

    Maximises the Tweedie likelihood with prior weights ``w_i`` (row ``i`` has variance
    ``phi mu_i^p / w_i``) and ``log mu = offset + b0 + X b``; the estimates are those of
    R's ``glm(family = statmod::tweedie(var.power = p, link.power = 0))`` (``poisson()``
    at ``p = 1``, ``Gamma(link = "log")`` at ``p = 2``) and of statsmodels' ``GLM`` with
    ``var_weights``.  Inference (:meth:`coef_table`, :meth:`covariance_matrix`,
    :meth:`fit_statistics`, :meth:`factor_tests`) takes the training data again.

    Parameters
    ----------
    power : float, default=1.5
        Tweedie power ``p`` in [1, 2].
    groups : sequence of hashable or dict, default=None
        Factors of the columns, for :meth:`factor_tests` (as ``HDTweedie``'s ``groups``);
        ``None``: every column is tested alone.
    tol : float, default=1e-12
        Stop when no Newton step moves a coefficient by more than ``tol``.
    max_iter : int, default=100
        Limit on Newton steps (a ``ConvergenceWarning`` when reached).

    Attributes
    ----------
    intercept_ : float
    coef_ : ndarray of shape (n_features,)
    lambdas_ : ndarray of shape (1,)
        ``[0.0]``: no penalty (what a model file records as lambda).
    group_labels_, group_index_ : list, ndarray of shape (n_features,)
        The factors, as for ``HDTweedie``.
    feature_names_in_ : ndarray of str
        Set for DataFrame input; ``n_features_in_`` always.

    Examples
    --------
    A Poisson frequency model and its coefficient table:

    >>> import numpy as np
    >>> from hdtweedie import TweedieGLM
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> y = np.random.default_rng(1).poisson(np.exp(0.3 * X[:, 0]))
    >>> table = TweedieGLM(power=1).fit(X, y).coef_table(X, y)
    >>> list(table.columns[:4])
    ['coef', 'se', 'z_value', 'p_value']
    """

    def __init__(self, power=1.5, groups=None, tol=1e-12, max_iter=100):
        self.power = power
        self.groups = groups
        self.tol = tol
        self.max_iter = max_iter

    # Model files record the elastic-net mixing; without a penalty it has no effect.
    alpha = 1.0

    def fit(self, X, y, sample_weight=None, offset=None):
        """Fit by Newton's method from the intercept-only start.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix, shape (n_samples, n_features)
        y : array-like, shape (n_samples,)
            Response, ``>= 0`` (``> 0`` when ``power=2``).
        sample_weight : array-like, shape (n_samples,), optional
            Prior weights ``>= 0``: row ``i`` has dispersion ``phi / w_i``.
        offset : array-like, shape (n_samples,), optional
            Added to the linear predictor, e.g. log exposure.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For bad inputs or a singular design (the aliased columns are named).
        TypeError
            For inputs or parameters of the wrong type.
        """
        power = check_power(self.power)
        tol = check_scalar(self.tol, "tol", float, low=0, low_open=True)
        max_iter = check_scalar(self.max_iter, "max_iter", int, low=1)
        Xc, names, yc, w, off = check_data(X, y, sample_weight, offset, power, self)
        p = Xc.shape[1]
        gs = make_groups(self.groups, p, names)
        cols = np.arange(p)
        labels = [str(s) for s in names] if names is not None else [f"x{j}" for j in cols]
        rows = w > 0
        check_full_rank(np.column_stack([np.ones(int(rows.sum())), dense_columns(Xc, cols)[rows]]),
                        ["intercept", *labels])
        b0, b = fit_columns(Xc, yc, w, off, power, cols, tol=tol, max_iter=max_iter)
        self.intercept_ = b0
        self.coef_ = b
        self.lambdas_ = np.zeros(1)
        self.group_labels_ = list(gs.labels)
        self.group_index_ = gs.index.copy()
        return self

    def _unpenalised_solution(self) -> tuple[float, np.ndarray, np.ndarray]:
        check_is_fitted(self, "coef_")
        return self.intercept_, self.coef_, np.ones(self.coef_.shape[0], dtype=bool)

    def predict(self, X, offset=None):
        """Predicted means ``exp(offset + b0 + X b)``.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,), optional

        Returns
        -------
        ndarray of shape (n_samples,)

        Raises
        ------
        ValueError, TypeError
            For bad X or offset.
        """
        check_is_fitted(self, "coef_")
        Xc, _ = check_X(X, self, reset=False, min_samples=1)
        off = check_offset(offset, Xc.shape[0])
        return np.exp(off + self.intercept_ + np.asarray(Xc @ self.coef_).reshape(-1))

    def score(self, X, y, sample_weight=None, offset=None):
        """D²: the fraction of Tweedie deviance explained, as ``HDTweedie.score``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        offset : array-like of shape (n_samples,), optional

        Returns
        -------
        float
        """
        mu = self.predict(X, offset=offset)
        power = check_power(self.power)
        return d2_score(check_y(y, mu.shape[0], power), mu, power,
                        check_weights(sample_weight, mu.shape[0]))

    def export(self, path, model_id=None, version=None, encoder=None, X=None):
        """Write the model to a versioned, hashed JSON model file (lambda 0).

        Parameters
        ----------
        path : str or path-like
        model_id, version : str, optional
        encoder : FactorEncoder, optional
            The fitted encoder that produced X.
        X : array-like, optional
            Without an encoder, the training matrix, to record numeric ranges.

        Returns
        -------
        dict
            The document written; see ``hdtweedie.scoring``.
        """
        from ._export import export_model

        return export_model(self, path, model_id=model_id, version=version, encoder=encoder, X=X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.positive_only = True
        return tags
