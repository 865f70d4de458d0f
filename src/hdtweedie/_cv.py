"""K-fold cross-validation over the lambda path, as R's ``cv.HDtweedie``."""

from __future__ import annotations

import numbers
import threading
import warnings
from collections.abc import Callable

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from . import _path
from ._checks import check_response_signal, check_scalar
from ._distribution import mean_deviance_path, unit_deviance, weighted_nanmean
from ._estimator import _PARAMS_DOC, HDTweedie, _HDTweedieBase
from ._fingerprint import training_summary
from ._options import FitData, PathOptions
from ._relax import refit_unpenalized

LOSSES = ("deviance", "mse", "mae")
SELECTIONS = ("lambda_1se", "lambda_min")


class FoldFitWarning(UserWarning):
    """A CV fold could not be fitted; its losses are NaN."""


def pointwise_loss(y, mu, loss, power):
    """Per-row loss of predictions ``mu`` (n_rows, n_lambdas); infinite values become NaN.

    Parameters
    ----------
    y : array-like of shape (n_rows,)
    mu : ndarray of shape (n_rows, n_lambdas)
    loss : {"deviance", "mse", "mae"}
    power : float

    Returns
    -------
    ndarray of shape (n_rows, n_lambdas)
    """
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


def fold_loss_path(data: FitData, opts: PathOptions, train: np.ndarray, test: np.ndarray,
                   loss: str = "deviance"):
    """Held-out loss along the path for one fold.

    Parameters
    ----------
    data : FitData
        The full training data.
    opts : PathOptions
        With user lambdas (the full fit's grid).
    train, test : ndarray of int
        Rows fitted and rows scored.
    loss : {"deviance", "mse", "mae"}

    Returns
    -------
    losses : ndarray of shape (n_lambdas,)
        Weighted mean loss per lambda, NaN past the lambdas the fold's path reached.
    n_reached : int
    message : str or None
        Why the fold could not be fitted (then all NaN).
    """
    out = np.full(opts.n_lambdas, np.nan)
    try:
        check_response_signal(data.y[train], data.w[train])
        # A fold's early stop is reported by the NaN losses, not per fold.
        res = _path.solve(data.rows(train), opts, warn=False)
    except ValueError as exc:
        return out, 0, str(exc)
    k = res.lambdas.size
    if k == 0:
        return out, 0, "the fold's path stopped at the first lambda"
    held = data.rows(test)
    eta = np.asarray(held.X @ res.coefs) + res.intercepts + held.offset[:, None]
    if loss == "deviance":
        out[:k] = mean_deviance_path(held.y, held.w, eta, opts.power)
    else:
        with np.errstate(over="ignore"):
            mu = np.exp(eta)
        pl = pointwise_loss(held.y, mu, loss, opts.power)
        out[:k] = weighted_nanmean(pl, held.w[:, None], axis=0)
    return out, k, None


class _Progress:
    """Counts finished jobs and reports ``(done, total)``; callable from any thread."""

    def __init__(self, callback: Callable[[int, int], object] | None, total: int):
        self.callback, self.total, self.done = callback, total, 0
        self._lock = threading.Lock()

    def add_jobs(self, k: int) -> None:
        """Count ``k`` more jobs in ``total``."""
        with self._lock:
            self.total += k

    def wrap(self, fn: Callable) -> Callable:
        """``fn`` that reports one finished job when it returns."""
        def job(*args, **kwargs):
            out = fn(*args, **kwargs)
            if self.callback is not None:
                with self._lock:  # calls in order, one at a time
                    self.done += 1
                    self.callback(self.done, self.total)
            return out
        return job


def cv_summary(fold_losses, fold_weights, lambdas):
    """R's ``cvm``, ``cvsd``, ``lambda.min`` and ``lambda.1se`` from per-fold losses.

    ``cvm`` is the mean of the fold losses weighted by fold weight;
    ``cvsd = sqrt(weighted mean of (fold loss - cvm)^2 / (N - 1))`` with ``N``
    the number of folds that reached the lambda.

    Parameters
    ----------
    fold_losses : ndarray of shape (n_folds, n_lambdas)
        NaN where a fold did not reach a lambda.
    fold_weights : array-like of shape (n_folds,)
    lambdas : ndarray of shape (n_lambdas,)

    Returns
    -------
    cvm, cvsd : ndarray of shape (n_lambdas,)
    lambda_min, lambda_1se : float

    Raises
    ------
    ValueError
        When no fold reached any lambda.
    """
    fw = np.asarray(fold_weights, dtype=np.float64)[:, None]
    cvm = weighted_nanmean(fold_losses, fw, axis=0)
    n_good = np.sum(~np.isnan(fold_losses), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cvsd = np.sqrt(weighted_nanmean((fold_losses - cvm) ** 2, fw, axis=0) / (n_good - 1))
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


def _check_fold_ids(fold_ids, n: int) -> tuple[np.ndarray, int]:
    """User fold labels to ``(0-based fold of each row, number of folds)``."""
    if isinstance(fold_ids, (str, bytes)):
        raise TypeError(f"fold_ids must be one label per row, got {fold_ids!r}")
    ids = np.asarray(fold_ids, dtype=object if isinstance(fold_ids, (list, tuple)) else None)
    ids = ids.ravel()
    if ids.dtype.kind in "mM":
        raise TypeError(f"fold_ids must be integer or string labels, got dtype {ids.dtype}")
    if ids.dtype.kind == "f" and not np.all(np.isfinite(ids)):
        raise ValueError("fold_ids must not contain NaN or infinite values")
    if ids.dtype.kind == "O":
        if any(i is None or (isinstance(i, float) and i != i) for i in ids):
            raise ValueError("fold_ids must not contain missing values")
        kinds = {"number" if isinstance(i, numbers.Number) else type(i).__name__ for i in ids}
        if len(kinds) > 1:
            example = {kind: next(i for i in ids if ("number" if isinstance(i, numbers.Number)
                                                     else type(i).__name__) == kind)
                       for kind in sorted(kinds)}
            raise ValueError(f"fold_ids must be labels of one kind, got a mix of "
                             f"{sorted(kinds)} (e.g. {list(example.values())})")
    if ids.shape[0] != n:
        raise ValueError(f"fold_ids has {ids.shape[0]} values but X has {n} rows")
    try:
        labels, pos = np.unique(ids, return_inverse=True)
    except TypeError:
        raise ValueError(f"fold_ids: labels cannot be compared with each other, e.g. "
                         f"{list(ids[:3])}") from None
    if labels.size < 3:
        raise ValueError(f"fold_ids must have at least 3 distinct folds, got {labels.size}")
    return pos.astype(np.intp).ravel(), labels.size


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
        An integer other than 0, or None.
    random_state : int, RandomState or None, default=None
        Seeds the random fold assignment.
    verbose : int, default=0
        Above 0, joblib reports fold progress on stderr.

    Attributes
    ----------
    lambdas_ : ndarray of shape (n_lambdas,)
    kkt_residual_ : ndarray of shape (n_lambdas,)
        The KKT residual of the full-data path at each lambda (see
        :class:`HDTweedie`).
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
                 tol=1e-8, max_iter=None, stopping="r", n_folds=5, fold_ids=None, loss="deviance",
                 select="lambda_1se", relax=False, n_jobs=None, random_state=None,
                 verbose=0):
        super().__init__(power=power, groups=groups, alpha=alpha, n_lambdas=n_lambdas,
                         lambda_min_ratio=lambda_min_ratio, lambdas=lambdas,
                         penalty_factor=penalty_factor, dfmax=dfmax, pmax=pmax,
                         standardize=standardize, tol=tol, max_iter=max_iter,
                         stopping=stopping)
        self.n_folds = n_folds
        self.fold_ids = fold_ids
        self.loss = loss
        self.select = select
        self.relax = relax
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _make_folds(self, n: int) -> tuple[np.ndarray, int]:
        """``(fold of each row as 0-based positions, number of folds)``."""
        if self.fold_ids is not None:
            return _check_fold_ids(self.fold_ids, n)
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

    def _check_cv_params(self, progress) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {SELECTIONS}, got {self.select!r}")
        if not isinstance(self.relax, (bool, np.bool_)):
            raise TypeError(f"relax must be True or False, got {self.relax!r}")
        if self.n_jobs is not None:
            n_jobs = self.n_jobs
            if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, numbers.Real):
                raise TypeError(f"n_jobs must be None or an integer, got {n_jobs!r}")
            if not isinstance(n_jobs, numbers.Integral):
                raise ValueError(f"n_jobs must be a whole number of threads, got {n_jobs!r}")
            if n_jobs == 0:
                raise ValueError("n_jobs must not be 0 (None or 1: one thread, -1: all cores)")
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be None or a callable progress(done, total), got "
                            f"{progress!r}")

    def fit(self, X, y, sample_weight=None, offset=None, *, progress=None):
        """Fit the full path, then K folds on its lambda grid, and choose lambda.

        Parameters
        ----------
        X, y, sample_weight, offset
            As in :meth:`HDTweedie.fit`.
        progress : callable, optional
            ``progress(done, total)`` is called after each job finishes (the
            full path and each fold), one call at a time even when jobs run in
            threads.  ``total`` starts at ``n_folds + 1`` and grows by
            ``n_folds`` when the full path stops early and the folds are
            refitted on its shorter grid.

        Returns
        -------
        self

        Raises
        ------
        TypeError, ValueError
            On bad data or hyper-parameters, naming the argument.
        """
        self._check_cv_params(progress)
        data, opts = self._check_inputs(X, y, sample_weight, offset)
        fold_ids, k = self._make_folds(data.n_samples)
        folds = [(np.flatnonzero(fold_ids != i), np.flatnonzero(fold_ids == i))
                 for i in range(k)]
        parallel = Parallel(n_jobs=self.n_jobs, prefer="threads", verbose=self.verbose)
        tracker = _Progress(progress, total=k + 1)
        fold_job = delayed(tracker.wrap(fold_loss_path))

        def fold_jobs(lambdas):
            fold_opts = opts.with_lambdas(lambdas)
            return [fold_job(data, fold_opts, train, test, self.loss) for train, test in folds]

        # The folds need the full fit's lambda grid.  A default grid is known once
        # lambda_max is (one intercept-only solve), so the full path can then run
        # beside the folds instead of before them.
        full_job = tracker.wrap(_path.solve)
        grid = _path.default_lambdas(data, opts) if opts.lambdas is None else None
        if grid is not None:
            out = parallel([delayed(full_job)(data, opts, warn=False)] + fold_jobs(grid))
            full, results = out[0], out[1:]
        else:
            full, results = full_job(data, opts, warn=False), None
        full.emit_warnings(stacklevel=2)
        summary = training_summary(data)
        path = HDTweedie(**{name: getattr(self, name) for name in HDTweedie._get_param_names()})
        path._store_path(data, opts, full, summary)
        path.n_features_in_ = self.n_features_in_
        if data.feature_names is not None:
            path.feature_names_in_ = data.feature_names
        lambdas = full.lambdas
        if results is None or not np.array_equal(lambdas, grid):
            # User lambdas, or a full path that stopped early: folds on its own grid.
            if results is not None:
                tracker.add_jobs(k)
            results = parallel(fold_jobs(lambdas))
        fold_losses = np.vstack([r[0] for r in results])
        for i, (_, _, msg) in enumerate(results):
            if msg is not None:
                warnings.warn(f"CV fold {i + 1} of {k} could not be fitted ({msg}); its "
                              f"losses are NaN", FoldFitWarning, stacklevel=2)
        fold_weights = np.array([data.w[test].sum() for _, test in folds])
        cvm, cvsd, lam_min, lam_1se = cv_summary(fold_losses, fold_weights, lambdas)

        self._store_path(data, opts, full, summary)
        self.path_ = path
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
                data.X, data.y, data.w, data.offset, opts.power, cols, self.intercept_,
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
