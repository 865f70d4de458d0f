"""The path estimator ``HDTweedie``."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from . import _path
from ._checks import check_data, check_offset, check_weights, check_X, check_y
from ._distribution import d2_score
from ._fingerprint import start_training_summary, training_summary
from ._groups import make_groups, resolve_penalty_factor
from ._options import FitData, PathOptions, check_n_threads, check_path_options, check_power
from .inference import InferenceMixin


class OffsetWarning(UserWarning):
    """A model fitted with an offset is used without one.

    Predictions and scores then leave out the exposure (or whatever the offset
    carries).  Pass ``offset=0`` to mean "no offset" explicitly; under
    scikit-learn model selection turn metadata routing on
    (``sklearn.set_config(enable_metadata_routing=True)``) so that the offset
    reaches ``score`` as well as ``fit``.
    """

_PARAMS_DOC = """
    power : float, default=1.5
        Tweedie power ``p`` in [1, 2]: 1 is the Poisson lasso (frequency), 2 the
        Gamma lasso (severity, ``y > 0``), in between compound Poisson-Gamma.
    groups : "factor", sequence of hashable or dict, default=None
        One group label per column (any hashable labels, any column order), or
        ``{group_name: [column names or indices]}``.  ``"factor"``: groups read
        from the feature names ``"factor=level"`` of a DataFrame (a
        :class:`FactorEncoder` with pandas output), other columns on their own.
        ``None``: every column is its own group (the lasso); warns when the
        feature names look like one-hot factors.  Groups are ordered by first
        appearance.
    alpha : float, default=1.0
        Mixing in (0, 1]: 1 is the (group) lasso, below 1 adds a ridge part.
    n_lambdas : int, default=100
        Length of the default lambda grid (R's ``nlambda``), at most 100000.
    lambda_min_ratio : float, default=None
        Smallest lambda as a fraction of ``lambda_max`` (R's ``lambda.factor``):
        0.001 when ``n_samples >= n_features``, else 0.05; raised to 1e-6.
    lambdas : array-like, default=None
        User lambdas (sorted decreasing and used as given; at most 100000).
    penalty_factor : array-like or dict, default=None
        One factor per group (order of first appearance, or a dict by group
        name); default ``sqrt(group size)``.  0 leaves a group unpenalised.
    dfmax : int, default=None
        Stop the path once more than ``dfmax`` groups are non-zero
        (default: number of groups + 1).
    pmax : int, default=None
        Limit on the number of groups ever non-zero; exceeding it ends the
        path with status ``-10000-k``.  Default ``min(1.2 dfmax, n_groups)``.
    standardize : bool, default=False
        Standardise columns (plain mean, divide-by-n scale) before fitting;
        coefficients are always returned on the original scale.
    tol : float, default=1e-8
        Convergence threshold on squared coefficient changes (R's ``eps``);
        with ``stopping="kkt"`` also the bound on the KKT residual.
    max_iter : int, default=None
        Limit on passes over the data for the whole path (R's ``maxit``,
        default 3e8); exceeding it ends the path with status ``-k``.
    stopping : {"r", "kkt"}, default="r"
        ``"r"``: R's rule (no coefficient moves by a squared amount ``tol`` in
        an IRLS step), which reproduces R's iterates.  ``"kkt"``: certified
        optimality: at each lambda the descent goes on, with a tighter working
        tolerance, until also the KKT residual (see ``kkt_residual_``) is at
        most ``tol``, within ``max_iter`` and the stall rule.
"""

_THREADS_DOC = """    n_threads : int or None, default=1
        Threads for the solver's loops over rows on dense ``X`` and its gradient
        sweeps over the columns of sparse ``X`` (OpenMP), and for the value check of
        dense ``X`` and the training-data fingerprint around them; None or -1 uses
        every core this process may run on, and more than that is capped there.
        Results are bit for bit the same for any value.
"""


def coef_series(model, s=None):
    """Coefficients of a fitted model as a ``pandas.Series`` labelled by feature.

    Parameters
    ----------
    model : HDTweedie or HDTweedieCV
    s : float, str or None
        As in ``predict``: ``None`` gives ``coef_``.

    Returns
    -------
    pandas.Series
        Indexed by ``feature_names_in_`` (or ``x0, x1, ...``), with the
        intercept first under ``"(intercept)"``.
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        raise ImportError("coef_series needs pandas: pip install pandas") from None
    check_is_fitted(model, "coef_")
    if s is None:
        b0, b = model.intercept_, model.coef_
    else:
        b0s, bs = model.coef_at(s)
        b0, b = float(b0s[0]), bs[:, 0]
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = [f"x{j}" for j in range(model.n_features_in_)]
    return pd.Series(np.concatenate([[b0], b]), index=["(intercept)", *map(str, names)],
                     name="coef")


class _HDTweedieBase(InferenceMixin, RegressorMixin, BaseEstimator):
    """Parameters, validation and prediction shared by the path and CV estimators."""

    def __init__(self, power=1.5, groups=None, alpha=1.0, n_lambdas=100, lambda_min_ratio=None,
                 lambdas=None, penalty_factor=None, dfmax=None, pmax=None, standardize=False,
                 tol=1e-8, max_iter=None, stopping="r", n_threads=1):
        self.power = power
        self.groups = groups
        self.alpha = alpha
        self.n_lambdas = n_lambdas
        self.lambda_min_ratio = lambda_min_ratio
        self.lambdas = lambdas
        self.penalty_factor = penalty_factor
        self.dfmax = dfmax
        self.pmax = pmax
        self.standardize = standardize
        self.tol = tol
        self.max_iter = max_iter
        self.stopping = stopping
        self.n_threads = n_threads

    # Under scikit-learn metadata routing the offset goes to fit, score and predict by
    # default (it changes what the model means, unlike most metadata).
    __metadata_request__fit = {"offset": True}
    __metadata_request__score = {"offset": True}
    __metadata_request__predict = {"offset": True}

    # -- fitting ---------------------------------------------------------------------------
    def _check_inputs(self, X, y, sample_weight, offset) -> tuple[FitData, PathOptions]:
        """Validate the data and every hyper-parameter of the path, once."""
        power = check_power(self.power)
        Xc, names, yc, w, off = check_data(X, y, sample_weight, offset, power, self,
                                           n_threads=self._checked_threads())
        n, p = Xc.shape
        gs = make_groups(self.groups, p, names)
        pf = resolve_penalty_factor(self.penalty_factor, gs)
        opts = check_path_options(self.get_params(deep=False), n, p, gs.n_groups)
        data = FitData(X=Xc, y=yc, w=w, offset=off, groups=gs, penalty_factor=pf,
                       feature_names=names, offset_given=offset is not None)
        return data, opts

    def _checked_threads(self) -> int:
        """``n_threads`` resolved, or 1 when it is invalid (reported with the other options)."""
        try:
            return check_n_threads(self.n_threads)
        except (TypeError, ValueError):
            return 1

    def _store_path(self, data: FitData, opts: PathOptions, res: _path.PathResult,
                    summary: dict | None = None) -> None:
        """Set the fitted path attributes (``coef_`` at its last lambda) from a solve."""
        if res.lambdas.size == 0:
            why = _path.status_message(res.status, opts.max_iter, opts.pmax)
            raise ValueError(f"the path stopped at the first lambda ({why}); "
                             "no solution to return: raise max_iter or pmax")
        self._opts = opts
        self._with_offset = bool(np.any(data.offset != 0))
        self.training_data_ = summary if summary is not None else training_summary(data)
        self.lambdas_ = res.lambdas
        self.intercept_path_ = res.intercepts
        self.coef_path_ = res.coefs
        self.df_ = res.df
        self.n_passes_ = res.n_passes
        self.kkt_residual_ = res.kkt_residual
        self.status_ = res.status
        self.lambda_max_ = res.lambda_max
        self.n_iter_ = res.n_passes
        self.group_labels_ = list(data.groups.labels)
        self.group_index_ = data.groups.index.copy()
        self.penalty_factor_ = data.penalty_factor
        self.coef_ = res.coefs[:, -1].copy()
        self.intercept_ = float(res.intercepts[-1])

    # -- using the path --------------------------------------------------------------------
    def _path_arrays(self):
        check_is_fitted(self, "coef_path_")
        return self.lambdas_, self.intercept_path_, self.coef_path_

    def _resolve_s(self, s):
        """Map ``s`` (None, a number, an array) to lambdas; None is the last lambda."""
        lam, _, _ = self._path_arrays()
        if s is None:
            return np.array([lam[-1]])
        if isinstance(s, str):
            raise ValueError(f"s must be a number or None for {type(self).__name__}, got {s!r}")
        arr = np.atleast_1d(np.asarray(s, dtype=np.float64)).ravel()
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"s must be finite non-negative lambdas, got {s!r}")
        return arr

    def coef_at(self, s):
        """Coefficients at lambdas ``s``, interpolated linearly in lambda as R's ``coef``.

        Parameters
        ----------
        s : float or array-like
            Lambdas; values outside the grid are clamped to its ends.

        Returns
        -------
        intercepts : ndarray of shape (len(s),)
        coefs : ndarray of shape (n_features, len(s))
        """
        lam, b0, b = self._path_arrays()
        return _path.interpolate(lam, b0, b, self._resolve_s(s))

    def _check_predict_X(self, X, offset, stacklevel: int):
        check_is_fitted(self, "coef_path_")
        Xc, _ = check_X(X, self, reset=False, min_samples=1)
        if offset is None and getattr(self, "_with_offset", False):
            warnings.warn(f"{type(self).__name__} was fitted with an offset but none was given "
                          f"here, so the offset is taken as 0; pass offset= (or offset=0 to "
                          f"mean it), and under scikit-learn model selection enable metadata "
                          f"routing", OffsetWarning, stacklevel=stacklevel + 1)
        return Xc, check_offset(offset, Xc.shape[0])

    def _linear_predictor(self, Xc, off, b0, b):
        eta = Xc @ b
        eta = np.asarray(eta) + b0 + off[:, None]
        return eta

    def predict(self, X, s=None, kind="response", offset=None):
        """Predict at lambda ``s`` (default: ``coef_`` and ``intercept_``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        s : float, array-like or None
            Lambda(s); an array gives one column per lambda.  ``None``: the
            fitted ``coef_``/``intercept_`` (the last lambda for ``HDTweedie``,
            the selected one for ``HDTweedieCV``).
        kind : {"response", "link"}
            ``exp(eta)`` or ``eta = offset + b0 + X b``.
        offset : array-like of shape (n_samples,), optional
            Added to the linear predictor (e.g. log exposure).

        Returns
        -------
        ndarray of shape (n_samples,) for a scalar ``s``, else (n_samples, len(s)).

        Warns
        -----
        OffsetWarning
            When the model was fitted with a non-zero offset and none is given.
        """
        return self._predict(X, s, kind, offset)

    def _predict(self, X, s, kind, offset):
        """``predict`` for public methods called by the user (warnings point at them)."""
        if kind not in ("response", "link"):
            raise ValueError(f"kind must be 'response' or 'link', got {kind!r}")
        if s is None:
            # The selected model (for HDTweedieCV with relax=True, the refitted one).
            check_is_fitted(self, "coef_")
            b0, b = np.array([self.intercept_]), self.coef_[:, None]
        else:
            b0, b = self.coef_at(s)
        Xc, off = self._check_predict_X(X, offset, stacklevel=3)
        eta = self._linear_predictor(Xc, off, b0, b)
        out = eta if kind == "link" else np.exp(eta)
        scalar = s is None or isinstance(s, str) or np.ndim(s) == 0
        return out[:, 0] if scalar else out

    def predict_path(self, X, kind="response", offset=None):
        """Predictions at every lambda of the path.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        kind : {"response", "link"}
        offset : array-like of shape (n_samples,), optional

        Returns
        -------
        ndarray of shape (n_samples, n_lambdas)

        Warns
        -----
        OffsetWarning
            When the model was fitted with a non-zero offset and none is given.
        """
        if kind not in ("response", "link"):
            raise ValueError(f"kind must be 'response' or 'link', got {kind!r}")
        _, b0, b = self._path_arrays()
        Xc, off = self._check_predict_X(X, offset, stacklevel=2)
        eta = self._linear_predictor(Xc, off, b0, b)
        return eta if kind == "link" else np.exp(eta)

    def score(self, X, y, sample_weight=None, offset=None):
        """D²: the fraction of Tweedie deviance explained at the selected lambda.

        As scikit-learn's ``TweedieRegressor.score``: ``1 - D(y, mu) / D(y, ybar)``
        with ``ybar`` the weighted mean of ``y``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        offset : array-like of shape (n_samples,), optional

        Returns
        -------
        float

        Warns
        -----
        OffsetWarning
            When the model was fitted with a non-zero offset and none is given.
        """
        mu = self._predict(X, None, "response", offset)
        power = self._opts.power
        yc = check_y(y, mu.shape[0], power)
        w = check_weights(sample_weight, mu.shape[0])
        return d2_score(yc, mu, power, w)

    def export(self, path, s=None, model_id=None, version=None, encoder=None, X=None, *,
               sign_key=None, key_id=None):
        """Write the coefficients at ``s`` to a versioned, hashed JSON model file.

        Parameters
        ----------
        path : str or path-like
        s : None, float or str
            ``None``: ``coef_``/``intercept_`` (the selected lambda of
            ``HDTweedieCV``, the last lambda of ``HDTweedie``); a lambda; or
            ``"lambda_min"``/``"lambda_1se"`` for ``HDTweedieCV``.
        model_id, version : str, optional
        encoder : FactorEncoder, optional
            The fitted encoder that produced X: its factors, levels, base levels
            and numeric ranges go into the file, so records of raw rating
            factors can be scored.
        X : array-like, optional
            Without an encoder, the training matrix, to record numeric ranges.
        sign_key : bytes or Ed25519 private key, optional
            Sign the file: HMAC-SHA256 with a secret of at least 16 bytes, or
            Ed25519 (needs ``cryptography``).  ``load_model(path, key=...)``
            then refuses the file if anything in it was changed.
        key_id : str, optional
            A name for the key, recorded beside the signature.

        Returns
        -------
        dict
            The document written.  See ``hdtweedie.scoring`` to load and score it.
        """
        from ._export import export_model

        return export_model(self, path, s=s, model_id=model_id, version=version,
                            encoder=encoder, X=X, sign_key=sign_key, key_id=key_id)

    def __sklearn_tags__(self):
        """Sparse input, non-negative targets.

        Returns
        -------
        sklearn.utils.Tags
        """
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # Tweedie responses are non-negative.
        tags.target_tags.positive_only = True
        tags.regressor_tags.poor_score = True
        return tags


class HDTweedie(_HDTweedieBase):
    __doc__ = f"""Tweedie lasso and grouped elastic net over a path of lambdas (IRLS-BMD).

    Reproduces R HDtweedie's ``HDtweedie()``.  With weights normalised to
    ``w_i = v_i / sum(v)``, a log link ``eta = offset + b0 + X b`` and power
    ``p``, each lambda solves::

        min_(b0, b)  sum_i w_i [ y_i exp(-(p-1) eta_i) / (p-1) + exp((2-p) eta_i) / (2-p) ]
                     + lambda * sum_g ( alpha pf_g ||b_g||_2 + (1-alpha)/2 ||b_g||_2^2 )

    (half the weighted mean Tweedie deviance up to a constant in ``y``; at
    ``p = 1`` and ``p = 2`` the Poisson and Gamma limits).  The ridge part
    carries no ``pf_g``, as in the reference.  The intercept is not penalised.

    Parameters
    ----------{_PARAMS_DOC}{_THREADS_DOC}
    Attributes
    ----------
    lambdas_ : ndarray of shape (n_lambdas,)
        Lambdas reached, decreasing.
    intercept_path_ : ndarray of shape (n_lambdas,)
    coef_path_ : ndarray of shape (n_features, n_lambdas)
    df_ : ndarray of shape (n_lambdas,)
        Number of non-zero coefficients per lambda.
    n_passes_ : int
        Passes over the data for the whole path.
    kkt_residual_ : ndarray of shape (n_lambdas,)
        The achieved KKT residual at each lambda, under either ``stopping``
        rule: with ``q_i = w_i (y_i exp(-(p-1) eta_i) - exp((2-p) eta_i))``
        (minus the loss gradient in ``eta``) and ``grad_g = -X_g' q``, the
        largest of ``|sum_i q_i| / lambda`` (intercept),
        ``max(0, ||grad_g|| - lambda alpha pf_g) / lambda`` (a zero group) and
        ``||grad_g + lambda (alpha pf_g b_g / ||b_g|| + (1-alpha) b_g)|| / lambda``
        (a non-zero group), on the standardised columns when
        ``standardize=True``; at ``lambda = 0`` the same without the division.
    status_ : int
        0, or R's ``-k`` (no convergence at the k-th lambda) or ``-10000-k``
        (pmax exceeded at the k-th lambda); earlier lambdas are returned.
    lambda_max_ : float
        Smallest lambda at which every penalised group is zero (default grid).
    coef_ : ndarray of shape (n_features,)
        Coefficients at the last lambda reached.
    intercept_ : float
    training_data_ : dict
        ``n_rows``, ``weight_sum``, ``exposure_sum`` (``sum(exp(offset))``
        when an offset was given, else None) and ``fingerprint``
        (``"sha256:<hex>"`` of X, y, weights and offset).
    group_labels_ : list
        Group labels in order of first appearance.
    group_index_ : ndarray of shape (n_features,)
        Position of each column's group in ``group_labels_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X is a DataFrame.

    Examples
    --------
    >>> import numpy as np
    >>> from hdtweedie import HDTweedie
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> y = rng.gamma(1.0, np.exp(0.5 * X[:, 0])) * rng.binomial(1, 0.7, 200)
    >>> model = HDTweedie(power=1.5).fit(X, y)
    >>> model.coef_path_.shape
    (5, 100)
    """

    def fit(self, X, y, sample_weight=None, offset=None):
        """Fit the whole lambda path.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Non-negative response (positive for ``power=2``).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative observation weights (normalised to sum to one).
        offset : array-like of shape (n_samples,), optional
            Added to the linear predictor: log exposure for pricing.

        Returns
        -------
        self

        Raises
        ------
        TypeError, ValueError
            On bad data or hyper-parameters, naming the argument.
        """
        data, opts = self._check_inputs(X, y, sample_weight, offset)
        # With threads to spare, the data's fingerprint is hashed while the path is solved.
        summary = start_training_summary(data, background=opts.n_threads > 1)
        res = _path.solve(data, opts)
        self._store_path(data, opts, res, summary())
        return self
