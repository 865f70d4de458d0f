"""Fits shared by the benchmark modules: cached problems, our path, glum's path.

The problems and the reference ``HDTweedie`` path of each are built once per
pytest session (the tall problem holds 160 MB, so it is generated only once).
"""

from __future__ import annotations

import _problems as P
import numpy as np

N_FOLDS = 5
FOLD_SEED = 12345

_DATA = {}
_PATHS = {}


def data(name):
    """``(X, y, sample_weight)`` of a named problem, generated once."""
    if name not in _DATA:
        _DATA[name] = P.make_problem(name)
    return _DATA[name]


def fit_hdtweedie(X, y, w, tol=None):
    """HDTweedie's default path; ``tol=None`` keeps the default tolerance."""
    from hdtweedie import HDTweedie

    params = {} if tol is None else {"tol": tol}
    return HDTweedie(power=P.POWER, **params).fit(X, y, sample_weight=w)


def reference_path(name, est=None, tol=None):
    """The ``HDTweedie`` path of a problem (the default one feeds glum its lambdas).

    ``est``, when given, is a fit of the same problem and tolerance made
    elsewhere in the session and is stored instead of fitting again.
    """
    key = (name, tol)
    if est is not None and key not in _PATHS:
        _PATHS[key] = est
    if key not in _PATHS:
        _PATHS[key] = fit_hdtweedie(*data(name), tol=tol)
    return _PATHS[key]


def glum_path(X, y, w, lambdas, gradient_tol=None):
    """glum's own path mode on the given lambda grid (``alpha = lambda``).

    glum minimises ``1/(2 sum(s)) deviance + alpha * ||b||_1`` for
    ``l1_ratio=1``; it normalises the weights to sum to one, exactly as
    HDTweedie does, so ``alpha`` and ``lambda`` are the same number.  Its
    default ``gradient_tol`` (1e-4) already agrees with HDTweedie to well
    below 1e-6 in relative objective (the benchmark checks this each run).
    """
    from glum import GeneralizedLinearRegressor, TweedieDistribution

    model = GeneralizedLinearRegressor(
        family=TweedieDistribution(P.POWER),
        link="log",
        alpha=np.asarray(lambdas, dtype=float),
        l1_ratio=1.0,
        alpha_search=True,
        solver="irls-cd",
        gradient_tol=gradient_tol,
    )
    return model.fit(X, y, sample_weight=w)


def objective_gaps(name, est, glum_model):
    """Relative objective gap ``(f_glum - f_ours) / f_ours`` at every lambda.

    Positive values mean glum's solution has the higher (worse) objective.
    """
    X, y, w = data(name)
    lambdas = est.lambdas_
    ours = P.path_objectives(X, y, w, lambdas, est.intercept_path_, est.coef_path_)
    theirs = P.path_objectives(
        X, y, w, lambdas, glum_model.intercept_path_, np.asarray(glum_model.coef_path_).T
    )
    return (theirs - ours) / np.abs(ours)


def fold_ids(n, n_folds=N_FOLDS, seed=FOLD_SEED):
    """Balanced random fold labels 1..n_folds, the same for both solvers."""
    rng = np.random.default_rng(seed)
    return rng.permutation(n) % n_folds + 1


def glum_cv(X, y, w, lambdas, folds, n_jobs):
    """glum's CV estimator on the same grid and folds."""
    from glum import GeneralizedLinearRegressorCV, TweedieDistribution

    splits = [
        (np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in np.unique(folds)
    ]
    model = GeneralizedLinearRegressorCV(
        family=TweedieDistribution(P.POWER),
        link="log",
        l1_ratio=1.0,
        alphas=np.asarray(lambdas, dtype=float),
        solver="irls-cd",
        cv=splits,
        n_jobs=n_jobs,
    )
    return model.fit(X, y, sample_weight=w)


_WARM = []


def warm_up():
    """Import both solvers and run each once on a small problem.

    The first fit in a process pays for lazy imports (scikit-learn validation,
    glum's tabmat and formula machinery); that cost is kept out of the timings.
    """
    if _WARM:
        return
    X, y, w = P.make_tall(n=2_000)
    fit_hdtweedie(X, y, w)
    try:
        glum_path(X, y, w, P.default_lambdas(X, y, w, n_lambdas=5))
    except ImportError:  # glum is optional; its benchmarks skip themselves
        pass
    _WARM.append(True)
