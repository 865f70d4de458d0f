"""K-fold cross-validation over the lambda path, as R's ``cv.HDtweedie``."""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from collections.abc import Callable

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils.validation import check_is_fitted

from . import _path
from ._checks import check_scalar
from ._distribution import mean_deviance_path, unit_deviance, weighted_nanmean
from ._estimator import _PARAMS_DOC, _THREADS_DOC, HDTweedie, _HDTweedieBase
from ._fingerprint import training_summary
from ._options import HELD_OUT_BLOCK_BYTES, FitData, PathOptions, threads_per_fit
from ._power_cv import check_power_grid, fold_loglik_path, solution_dispersion
from ._relax import refit_unpenalized

LOSSES = ("deviance", "mse", "mae", "loglik")
# Working memory of one path solve in float64 vectors of length n (weights, the kernel's
# predictor, residuals and Hessian, a fold's row positions), as measured by VmHWM.
SOLVE_VECTORS = 10
# A log-likelihood fold holds more: its rows' responses, weights and positions, and the
# dispersion fit's work on the rows with y > 0 (measured, as SOLVE_VECTORS).
LOGLIK_VECTORS = 8
# Solves running at once keep their working memory within the size of X, or this.
MEMORY_FLOOR_BYTES = 64 << 20
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
    res, why = _path.solve_fold(data, opts, train)
    if res is None:
        return out, 0, why
    k = res.lambdas.size
    y, w = data.y[test], data.w[test]
    # The held-out predictions a few lambdas at a time: (rows, lambdas) in full would
    # outweigh X itself on tall data.  Each lambda's loss depends on its column alone.
    step = max(1, HELD_OUT_BLOCK_BYTES // (8 * max(test.size, 1)))
    for j in range(0, k, step):
        eta = data.linear_predictor(test, res.intercepts[j:j + step], res.coefs[:, j:j + step])
        if loss == "deviance":
            out[j:j + eta.shape[1]] = mean_deviance_path(y, w, eta, opts.power)
        else:
            with np.errstate(over="ignore"):
                mu = np.exp(eta)
            pl = pointwise_loss(y, mu, loss, opts.power)
            out[j:j + eta.shape[1]] = weighted_nanmean(pl, w[:, None], axis=0)
    return out, k, None


def concurrent_solves(n_jobs: int | None, data: FitData, n_lambdas: int,
                      loss: str = "deviance") -> int:
    """How many path solves run at once: ``n_jobs``, fewer when their memory would outgrow X.

    Each solve holds ``SOLVE_VECTORS`` vectors of length n (``LOGLIK_VECTORS`` more
    for ``loss="loglik"``) and a block of held-out predictions; together they stay
    within ``max(X bytes, MEMORY_FLOOR_BYTES)``, so the peak of a CV fit is bounded by
    a multiple of X whatever ``n_jobs`` is.

    Parameters
    ----------
    n_jobs : int or None
        As for joblib (checked already).
    data : FitData
    n_lambdas : int
    loss : str, default "deviance"
        The fold loss (one of ``LOSSES``).

    Returns
    -------
    int
        At least 1.
    """
    n = data.n_samples
    x_bytes = data.X.data.nbytes if hasattr(data.X, "indptr") else data.X.nbytes
    vectors = SOLVE_VECTORS + (LOGLIK_VECTORS if loss == "loglik" else 0)
    per_solve = 8 * n * vectors + min(HELD_OUT_BLOCK_BYTES, 8 * n * n_lambdas)
    fits = max(1, max(x_bytes, MEMORY_FLOOR_BYTES) // per_solve)
    return int(min(effective_n_jobs(n_jobs), fits))


def _on_fold(fold_path: Callable) -> Callable:
    """``fold_path(data, opts, train, test, ...)`` called as ``(data, opts, fold_ids, i, ...)``.

    A fold's row positions are made when it runs, so only the folds running at the
    time hold theirs (K pairs of them would be K row-index vectors of n entries).
    """
    def job(data: FitData, opts: PathOptions, fold_ids: np.ndarray, i: int, *extra):
        return fold_path(data, opts, np.flatnonzero(fold_ids != i),
                         np.flatnonzero(fold_ids == i), *extra)
    return job


class _Progress:
    """Counts finished jobs and reports ``(done, total)`` from the calling process.

    Results are counted as they come back, so the jobs stay plain functions that any
    joblib backend (threads, processes, Dask) can ship.
    """

    def __init__(self, callback: Callable[[int, int], object] | None, total: int):
        self.callback, self.total, self.done = callback, total, 0

    def add_jobs(self, k: int) -> None:
        """Count ``k`` more jobs in ``total``."""
        self.total += k

    def results(self, parallel: Parallel, jobs: list) -> list:
        """Run ``jobs`` on ``parallel`` and report each result as it arrives."""
        out = []
        for result in parallel(jobs):
            out.append(result)
            self.done += 1
            if self.callback is not None:
                self.callback(self.done, self.total)
        return out


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

    ``power`` may also be a list of powers in (1, 2], or ``"auto"`` for
    1.1, 1.2, ..., 1.9: the path is fitted at each power, each with its own
    default lambda grid (or the user ``lambdas``), on the same folds, all in
    one joblib call; the power whose best lambda has the smallest held-out
    ``loss="loglik"`` is chosen, and the attributes below then describe the
    fit at that power.

    Parameters
    ----------{_PARAMS_DOC}
    n_folds : int, default=5
        Number of random folds (at least 3); ignored when ``fold_ids`` is given.
    fold_ids : array-like of shape (n_samples,), default=None
        Fold label of each row (at least 3 distinct labels).
    loss : {{"deviance", "mse", "mae", "loglik"}}, default=None
        Held-out loss: Tweedie unit deviance, squared or absolute error, or
        minus the Tweedie log-likelihood per row with the dispersion estimated
        on each training fold at each lambda (see :mod:`hdtweedie._power_cv`).
        ``None``: ``"deviance"`` for one power, ``"loglik"`` for several (the
        only loss that can compare powers).
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
        An integer other than 0, or None.  Folds fit on X in place (held-out
        rows weighted 0); fewer run at once when their working memory (about
        10 vectors of n floats each) would exceed the size of X.  Each fit
        (the full path and each fold) runs at most ``max(1, cores // solves at
        once)`` of its ``n_threads``, so folds times threads do not
        oversubscribe the cores.
    random_state : int, RandomState or None, default=None
        Seeds the random fold assignment.
    verbose : int, default=0
        Above 0, joblib reports fold progress on stderr.
{_THREADS_DOC}
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
        The fit on the full data (at ``power_``).
    power_ : float
        The power of the model: ``power``, or the one chosen from the list.
    dispersion_ : float or None
        Maximum-likelihood dispersion ``phi`` of the training rows at the
        selected solution (``coef_``, ``intercept_``; row ``i`` has dispersion
        ``phi / w_i``); None at ``power_ = 1``.
    loss_ : str
        The loss used (``loss``, its default resolved).
    powers_ : ndarray of shape (n_powers,)
        With a list of powers: the powers compared, increasing.
    cv_loglik_ : ndarray of shape (n_powers, n_lambdas)
        With a list of powers: mean held-out log-likelihood per row (minus
        ``cv_mean_`` at the chosen power) at each power and lambda of its
        grid; NaN past the lambdas reached.
    cv_lambdas_ : ndarray of shape (n_powers, n_lambdas)
        With a list of powers: the lambda grid of each power, NaN-padded.
    """

    def __init__(self, power=1.5, groups=None, alpha=1.0, n_lambdas=100, lambda_min_ratio=None,
                 lambdas=None, penalty_factor=None, dfmax=None, pmax=None, standardize=False,
                 tol=1e-8, max_iter=None, stopping="r", n_folds=5, fold_ids=None, loss=None,
                 select="lambda_1se", relax=False, n_jobs=None, random_state=None,
                 verbose=0, n_threads=1):
        super().__init__(power=power, groups=groups, alpha=alpha, n_lambdas=n_lambdas,
                         lambda_min_ratio=lambda_min_ratio, lambdas=lambdas,
                         penalty_factor=penalty_factor, dfmax=dfmax, pmax=pmax,
                         standardize=standardize, tol=tol, max_iter=max_iter,
                         stopping=stopping, n_threads=n_threads)
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

    def _check_cv_params(self, progress, grid) -> str:
        """Check the CV parameters; return the loss, its default resolved."""
        loss = self.loss if self.loss is not None else "deviance" if grid is None else "loglik"
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES} or None, got {self.loss!r}")
        if grid is not None and loss != "loglik":
            raise ValueError(f"loss={loss!r} cannot compare powers (the deviance's scale depends "
                             f"on the power); with a list of powers loss must be 'loglik' or None")
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
        return loss

    def _check_grid_inputs(self, X, y, sample_weight, offset, grid) -> tuple[FitData, list]:
        """The data (checked for the largest power) and the path options at each power."""
        if grid is None:
            data, opts = self._check_inputs(X, y, sample_weight, offset)
            return data, [opts]
        powers = self.power
        try:  # the path options differ only in the power
            self.power = float(grid[-1])
            data, opts = self._check_inputs(X, y, sample_weight, offset)
        finally:
            self.power = powers
        return data, [dataclasses.replace(opts, power=float(p)) for p in grid]

    def _run_folds(self, data: FitData, opts_list: list, fold_ids: np.ndarray, k: int, loss: str,
                   progress):
        """The full path and the folds' loss paths at each power, in one parallel call.

        Returns ``[(full path, fold results), ...]`` per power; a power whose grid is known
        once lambda_max is (the default grid) runs its full path beside its folds.
        """
        solves = concurrent_solves(self.n_jobs, data, opts_list[0].n_lambdas, loss)
        # Solves at once times threads each stay within the cores.
        opts_list = [dataclasses.replace(o, n_threads=threads_per_fit(o.n_threads, solves))
                     for o in opts_list]
        parallel = Parallel(n_jobs=solves, prefer="threads", verbose=self.verbose, return_as="generator")
        tracker = _Progress(progress, total=len(opts_list) * (k + 1))
        fold_job = delayed(_on_fold(fold_loglik_path if loss == "loglik" else fold_loss_path))
        extra = () if loss == "loglik" else (loss,)

        def fold_jobs(opts, lambdas):
            fold_opts = opts.with_lambdas(lambdas)
            return [fold_job(data, fold_opts, fold_ids, i, *extra) for i in range(k)]

        full_job = delayed(_path.solve)
        grids = [_path.default_lambdas(data, o) if o.lambdas is None else None for o in opts_list]
        jobs = []
        for opts, grid in zip(opts_list, grids):
            jobs += [full_job(data, opts, warn=False)] + (fold_jobs(opts, grid) if grid is not None else [])
        out = iter(tracker.results(parallel, jobs))
        runs = []
        for grid in grids:
            full = next(out)
            runs.append([full, None if grid is None else [next(out) for _ in range(k)]])
        # User lambdas, or a full path that stopped early: folds on the full path's own grid.
        redo = [i for i, (full, res) in enumerate(runs) if full.lambdas.size
                and (res is None or not np.array_equal(full.lambdas, grids[i]))]
        tracker.add_jobs(k * sum(runs[i][1] is not None for i in redo))
        jobs = [job for i in redo for job in fold_jobs(opts_list[i], runs[i][0].lambdas)]
        out = iter(tracker.results(parallel, jobs) if jobs else [])
        for i in redo:
            runs[i][1] = [next(out) for _ in range(k)]
        return runs

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
        grid = check_power_grid(self.power)
        loss = self._check_cv_params(progress, grid)
        data, opts_list = self._check_grid_inputs(X, y, sample_weight, offset, grid)
        if loss == "loglik" and opts_list[0].power == 1:
            raise ValueError("loss='loglik' needs a power in (1, 2]: at power 1 the dispersion "
                             "has no maximum-likelihood estimate")
        fold_ids, k = self._make_folds(data.n_samples)
        runs = self._run_folds(data, opts_list, fold_ids, k, loss, progress)
        on_rows = data.w if loss != "loglik" else (data.w > 0).astype(np.float64)
        fold_weights = np.array([on_rows[fold_ids == i].sum() for i in range(k)])
        curves = []
        for opts, (full, results) in zip(opts_list, runs):
            if grid is None:
                full.emit_warnings(stacklevel=2)
            if results is None:  # its path reached no lambda
                if grid is None:
                    self._store_path(data, opts, full)  # raises, saying why
                curves.append(None)
                continue
            where = "" if grid is None else f" at power {opts.power:g}"
            for i, (_, _, msg) in enumerate(results):
                if msg is not None:
                    warnings.warn(f"CV fold {i + 1} of {k} could not be fitted{where} ({msg}); "
                                  f"its losses are NaN", FoldFitWarning, stacklevel=2)
            fold_losses = np.vstack([r[0] for r in results])
            try:
                curves.append((fold_losses, cv_summary(fold_losses, fold_weights, full.lambdas)))
            except ValueError:
                if grid is None:
                    raise
                curves.append(None)
        best = self._best_power(curves, grid)
        if grid is not None:
            runs[best][0].emit_warnings(stacklevel=2)
        self._store_selection(data, opts_list[best], runs[best][0], curves[best], fold_ids, loss)
        if grid is not None:
            n = max(f.lambdas.size for f, _ in runs)
            pad = np.full((grid.size, n), np.nan)
            self.powers_ = grid
            self.cv_loglik_, self.cv_lambdas_ = pad.copy(), pad
            for i, ((f, _), curve) in enumerate(zip(runs, curves)):
                self.cv_lambdas_[i, :f.lambdas.size] = f.lambdas
                if curve is not None:
                    self.cv_loglik_[i, :f.lambdas.size] = -curve[1][0]
        return self

    @staticmethod
    def _best_power(curves: list, grid) -> int:
        """Position of the power whose best lambda has the smallest mean CV loss."""
        best = [np.nanmin(c[1][0]) if c is not None else np.inf for c in curves]
        if not np.isfinite(np.min(best)):
            # a single power raised already; here every power of the list failed
            raise ValueError(f"power: no power of {list(grid)} could be cross-validated (every "
                             f"path or fold failed)")
        return int(np.argmin(best))

    def _store_selection(self, data: FitData, opts: PathOptions, full, curve, fold_ids,
                         loss: str) -> None:
        """Set the fitted attributes from the full path and CV curve of one power."""
        fold_losses, (cvm, cvsd, lam_min, lam_1se) = curve
        summary = training_summary(data)
        params = {name: getattr(self, name) for name in HDTweedie._get_param_names()}
        path = HDTweedie(**dict(params, power=opts.power))
        path._store_path(data, opts, full, summary)
        path.n_features_in_ = self.n_features_in_
        if data.feature_names is not None:
            path.feature_names_in_ = data.feature_names
        self._store_path(data, opts, full, summary)
        self.path_ = path
        self.power_ = opts.power
        self.loss_ = loss
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
        self.dispersion_ = solution_dispersion(data.X, data.y, data.w, data.offset, opts.power,
                                               self.intercept_, self.coef_, stacklevel=3)

    def _resolve_s(self, s):
        check_is_fitted(self, "lambda_")
        if s is None:
            return np.array([self.lambda_])
        if isinstance(s, str):
            if s not in SELECTIONS:
                raise ValueError(f"s must be a number, 'lambda_min' or 'lambda_1se', got {s!r}")
            return np.array([getattr(self, s + "_")])
        return super()._resolve_s(s)
