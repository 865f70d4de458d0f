"""K-fold cross-validation over the lambda path, as R's ``cv.HDtweedie``."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from . import _cd, _path
from ._checks import check_response_signal, check_scalar
from ._distribution import unit_deviance
from ._estimator import _PARAMS_DOC, HDTweedie, _HDTweedieBase
from ._relax import refit_unpenalized

LOSSES = ("deviance", "mse", "mae")
SELECTIONS = ("lambda_1se", "lambda_min")


class FoldFitWarning(UserWarning):
    """A CV fold could not be fitted; its losses are NaN."""


def pointwise_loss(y, mu, loss, power):
    """Per-row loss of predictions ``mu`` (n_rows, n_lambdas); infinite values become NaN."""
    y = np.asarray(y, dtype=np.float64)[:, None]
    if loss == "deviance":
        out = unit_deviance(y, mu, power)
    elif loss == "mse":
        out = (y - mu) ** 2
    else:
        out = np.abs(y - mu)
    out = np.asarray(out, dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    return out


def _weighted_nanmean(values, weights, axis):
    """Weighted mean skipping NaN (R's ``weighted.mean(..., na.rm=TRUE)``)."""
    ok = ~np.isnan(values)
    w = np.where(ok, weights, 0.0)
    num = np.where(ok, values, 0.0) * w
    with np.errstate(invalid="ignore", divide="ignore"):
        return num.sum(axis=axis) / w.sum(axis=axis)


def _take_rows(X, idx):
    if sp.issparse(X):
        sub = X[idx].tocsc()
        sub.indices = sub.indices.astype(np.int32, copy=False)
        sub.indptr = sub.indptr.astype(np.int32, copy=False)
        return sub
    return np.asfortranarray(X[idx])


def fold_loss_path(X, y, w, offset, train, test, lambdas, power, gs, pf, alpha, options,
                   loss="deviance"):
    """Held-out loss along the path for one fold.

    Fits on rows ``train`` with the user lambdas ``lambdas`` and scores rows
    ``test``.  Returns ``(losses, n_reached, message)``: the weighted mean loss per
    lambda (NaN past the lambdas the fold's path reached), the number of lambdas
    reached, and ``None`` or why the fold could not be fitted (then all NaN).
    """
    nlam = len(lambdas)
    out = np.full(nlam, np.nan)
    try:
        check_response_signal(y[train], w[train])
        # A fold's early stop is reported by the NaN losses, not per fold.
        res = _path.solve(_take_rows(X, train), y[train], w[train], offset[train], power,
                          gs, pf, alpha, lambdas, nlam, None, options["dfmax"],
                          options["pmax"], options["standardize"], options["tol"],
                          options["max_iter"], warn=False)
    except ValueError as exc:
        return out, 0, str(exc)
    k = res.lambdas.size
    if k == 0:
        return out, 0, "the fold's path stopped at the first lambda"
    eta = (_take_rows(X, test) @ res.coefs) + res.intercepts + offset[test][:, None]
    if loss == "deviance" and 1 < power < 2:
        # Compiled, without (n_test, n_lambdas) temporaries, and without the GIL.
        out[:k] = _cd.cv_deviance(np.ascontiguousarray(y[test]), np.ascontiguousarray(w[test]),
                                  np.ascontiguousarray(eta), float(power))
    else:
        with np.errstate(over="ignore"):
            mu = np.exp(eta)
        pl = pointwise_loss(y[test], mu, loss, power)
        out[:k] = _weighted_nanmean(pl, w[test][:, None], axis=0)
    return out, k, None


def cv_summary(fold_losses, fold_weights, lambdas):
    """R's ``cvm``, ``cvsd``, ``lambda.min`` and ``lambda.1se`` from per-fold losses.

    ``cvm`` is the mean of the fold losses weighted by fold weight;
    ``cvsd = sqrt(weighted mean of (fold loss - cvm)^2 / (N - 1))`` with ``N``
    the number of folds that reached the lambda.
    """
    fw = np.asarray(fold_weights, dtype=np.float64)[:, None]
    cvm = _weighted_nanmean(fold_losses, fw, axis=0)
    n_good = np.sum(~np.isnan(fold_losses), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cvsd = np.sqrt(_weighted_nanmean((fold_losses - cvm) ** 2, fw, axis=0) / (n_good - 1))
    finite = np.isfinite(cvm)
    if not np.any(finite):
        raise ValueError("no lambda was reached by any fold that could be fitted; "
                         "cross-validation has nothing to compare")
    cvmin = np.min(cvm[finite])
    i_min = int(np.flatnonzero(finite & (cvm <= cvmin))[0])
    lam_min = lambdas[i_min]
    semin = cvm[i_min] + (cvsd[i_min] if np.isfinite(cvsd[i_min]) else 0.0)
    lam_1se = lambdas[int(np.flatnonzero(finite & (cvm <= semin))[0])]
    return cvm, cvsd, float(lam_min), float(lam_1se)


class HDTweedieCV(_HDTweedieBase):
    __doc__ = f"""Tweedie lasso / grouped elastic net with lambda chosen by K-fold CV.

    Reproduces R's ``cv.HDtweedie``: the full data is fitted once and its
    lambda grid reused for every fold; each fold's held-out loss is averaged
    with the observation weights, and folds are combined weighted by their
    total weight.  The objective is that of :class:`HDTweedie`.

    Parameters
    ----------{_PARAMS_DOC}
    n_folds : int, default=5
        Number of random folds (at least 3); ignored when ``fold_ids`` is given.
    fold_ids : array-like of shape (n_samples,), default=None
        Fold label of each row (at least 3 distinct labels).
    loss : {{"deviance", "mse", "mae"}}, default="deviance"
        Held-out loss: Tweedie unit deviance, squared or absolute error.
    select : {{"lambda_1se", "lambda_min"}}, default="lambda_1se"
        Which lambda ``coef_``, ``intercept_``, ``predict`` and ``score`` use.
    relax : bool, default=False
        Refit the groups selected at ``lambda_`` without penalty (an
        unpenalised Tweedie GLM on those columns, same weights and offset) and
        use those coefficients for ``coef_``, ``intercept_``, ``predict(s=None)``,
        ``score`` and ``export(s=None)``.  The lasso chooses the factors; the
        refit removes its shrinkage from their relativities.  The path,
        ``coef_at`` and the CV curve stay penalised.
    n_jobs : int, default=None
        Folds fitted in parallel threads (joblib); results do not depend on it.
    random_state : int, RandomState or None, default=None
        Seeds the random fold assignment.
    verbose : int, default=0
        Above 0, joblib reports fold progress on stderr.

    Attributes
    ----------
    lambdas_ : ndarray of shape (n_lambdas,)
    cv_mean_, cv_std_ : ndarray of shape (n_lambdas,)
        R's ``cvm`` and ``cvsd``.
    cv_upper_, cv_lower_ : ndarray of shape (n_lambdas,)
        ``cv_mean_ +/- cv_std_``.
    fold_losses_ : ndarray of shape (n_folds, n_lambdas)
        Held-out loss per fold and lambda; NaN where a fold's path stopped
        early or the fold could not be fitted.
    fold_ids_ : ndarray of shape (n_samples,)
        The fold of each row (0-based positions into ``fold_losses_``).
    lambda_min_ : float
        The largest lambda with the smallest mean CV loss.
    lambda_1se_ : float
        The largest lambda whose mean CV loss is within one standard error
        of the minimum: a sparser model that is statistically as good.
    lambda_ : float
        The selected lambda (``select``).
    coef_ : ndarray of shape (n_features,)
        Coefficients at ``lambda_`` (refitted without penalty when ``relax``).
    intercept_ : float
    path_ : HDTweedie
        The fit on the full data.
    """

    def __init__(self, power=1.5, groups=None, alpha=1.0, n_lambdas=100, lambda_min_ratio=None,
                 lambdas=None, penalty_factor=None, dfmax=None, pmax=None, standardize=False,
                 tol=1e-8, max_iter=None, n_folds=5, fold_ids=None, loss="deviance",
                 select="lambda_1se", relax=False, n_jobs=None, random_state=None,
                 verbose=0):
        super().__init__(power=power, groups=groups, alpha=alpha, n_lambdas=n_lambdas,
                         lambda_min_ratio=lambda_min_ratio, lambdas=lambdas,
                         penalty_factor=penalty_factor, dfmax=dfmax, pmax=pmax,
                         standardize=standardize, tol=tol, max_iter=max_iter)
        self.n_folds = n_folds
        self.fold_ids = fold_ids
        self.loss = loss
        self.select = select
        self.relax = relax
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _make_folds(self, n):
        if self.fold_ids is not None:
            ids = np.asarray(self.fold_ids).ravel()
            if ids.dtype.kind == "f" and not np.all(np.isfinite(ids)):
                raise ValueError("fold_ids must not contain NaN or infinite values")
            if ids.dtype.kind == "O" and any(i is None or (isinstance(i, float) and i != i)
                                            for i in ids):
                raise ValueError("fold_ids must not contain missing values")
            if ids.shape[0] != n:
                raise ValueError(f"fold_ids has {ids.shape[0]} values but X has {n} rows")
            labels, pos = np.unique(ids, return_inverse=True)
            if labels.size < 3:
                raise ValueError(f"fold_ids must have at least 3 distinct folds, got "
                                 f"{labels.size}")
            return pos.astype(np.intp), labels.size
        k = check_scalar(self.n_folds, "n_folds", int, low=3)
        if k > n:
            raise ValueError(f"n_folds={k} is larger than the number of rows ({n})")
        rs = self.random_state
        if isinstance(rs, np.random.RandomState):
            rng = rs
        elif rs is None or isinstance(rs, np.random.Generator) or (
                isinstance(rs, numbers.Integral) and not isinstance(rs, bool) and rs >= 0):
            rng = np.random.default_rng(rs)
        else:
            raise ValueError(f"random_state must be None, a non-negative integer, a "
                             f"numpy Generator or RandomState, got {rs!r}")
        # As R: sample(rep(seq(nfolds), length = N)).
        base = np.resize(np.arange(k), n)
        perm = rng.permutation(n)
        ids = np.empty(n, dtype=np.intp)
        ids[perm] = base
        return ids, k

    def fit(self, X, y, sample_weight=None, offset=None):
        """Fit the full path, then K folds on its lambda grid, and choose lambda.

        Parameters are those of :meth:`HDTweedie.fit`.

        Returns
        -------
        self
        """
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {SELECTIONS}, got {self.select!r}")
        if not isinstance(self.relax, (bool, np.bool_)):
            raise TypeError(f"relax must be True or False, got {self.relax!r}")
        d = self._validate_data(X, y, sample_weight, offset)
        n = d["X"].shape[0]
        fold_ids, k = self._make_folds(n)
        path = HDTweedie(**{name: getattr(self, name) for name in HDTweedie._get_param_names()})
        options = dict(dfmax=self.dfmax, pmax=self.pmax, standardize=self.standardize,
                       tol=self.tol, max_iter=self.max_iter)
        folds = [(np.flatnonzero(fold_ids != i), np.flatnonzero(fold_ids == i))
                 for i in range(k)]
        parallel = Parallel(n_jobs=self.n_jobs, prefer="threads", verbose=self.verbose)

        def fold_jobs(lambdas):
            return [delayed(fold_loss_path)(d["X"], d["y"], d["w"], d["offset"], train, test,
                                            lambdas, d["power"], d["gs"], d["pf"], d["alpha"],
                                            options, self.loss)
                    for train, test in folds]

        # The folds need the full fit's lambda grid.  A default grid is known once
        # lambda_max is (one intercept-only solve), so the full path can then run
        # beside the folds instead of before them.
        grid = None
        if self.lambdas is None:
            grid = _path.default_lambdas(
                d["X"], d["y"], d["w"], d["offset"], d["power"], d["gs"], d["pf"], d["alpha"],
                self.n_lambdas, self.lambda_min_ratio, self.dfmax, self.pmax,
                self.standardize, self.tol, self.max_iter)
        if grid is not None:
            out = parallel([delayed(self._solve)(d, warn=False)] + fold_jobs(grid))
            full, results = out[0], out[1:]
        else:
            full, results = self._solve(d, warn=False), None
        full.emit_warnings(stacklevel=2)
        path._set_fitted(d, full)
        path.n_features_in_ = self.n_features_in_
        if d["names"] is not None:
            path.feature_names_in_ = d["names"]
        lambdas = path.lambdas_
        if results is None or not np.array_equal(lambdas, grid):
            # User lambdas, or a full path that stopped early: folds on its own grid.
            results = parallel(fold_jobs(lambdas))
        fold_losses = np.vstack([r[0] for r in results])
        for i, (_, _, msg) in enumerate(results):
            if msg is not None:
                warnings.warn(f"CV fold {i + 1} of {k} could not be fitted ({msg}); its "
                              f"losses are NaN", FoldFitWarning, stacklevel=2)
        fold_weights = np.array([d["w"][test].sum() for _, test in folds])
        cvm, cvsd, lam_min, lam_1se = cv_summary(fold_losses, fold_weights, lambdas)

        self.path_ = path
        for name in ("lambdas_", "intercept_path_", "coef_path_", "df_", "n_passes_", "n_iter_",
                     "status_", "lambda_max_", "group_labels_", "group_index_",
                     "penalty_factor_"):
            setattr(self, name, getattr(path, name))
        self.fold_ids_ = fold_ids
        self.fold_losses_ = fold_losses
        self.cv_mean_ = cvm
        self.cv_std_ = cvsd
        self.cv_upper_ = cvm + cvsd
        self.cv_lower_ = cvm - cvsd
        self.lambda_min_ = lam_min
        self.lambda_1se_ = lam_1se
        self.lambda_ = lam_min if self.select == "lambda_min" else lam_1se
        b0, b = self.coef_at(self.lambda_)
        self.coef_ = b[:, 0]
        self.intercept_ = float(b0[0])
        if self.relax:
            cols = np.flatnonzero(self.coef_ != 0)
            self.intercept_, self.coef_ = refit_unpenalized(
                d["X"], d["y"], d["w"], d["offset"], d["power"], cols, self.intercept_,
                self.coef_)
        return self

    def _resolve_s(self, s):
        check_is_fitted(self, "lambda_")
        if s is None:
            return np.array([self.lambda_])
        if isinstance(s, str):
            if s not in SELECTIONS:
                raise ValueError(f"s must be a number, 'lambda_min' or 'lambda_1se', got {s!r}")
            return np.array([getattr(self, s + "_")])
        return super()._resolve_s(s)
