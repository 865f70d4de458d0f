"""5-fold cross-validation on the motor problem, with n_jobs=1 and n_jobs=2.

HDTweedieCV fits the full-data path and then the five fold paths on its grid;
glum's GeneralizedLinearRegressorCV is given the same grid and the same folds
(it fits the fold paths and then refits the full path).  The speed-up of
``n_jobs=2`` over ``n_jobs=1`` is reported by ``report.py``.
"""

import os

import _fits
import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("warm_solvers")

ROUNDS = {"hdtweedie": 3, "glum": 1}
_CV = {}


def _rounds(solver):
    override = os.environ.get("HDTWEEDIE_BENCH_ROUNDS")
    return int(override) if override else ROUNDS[solver]


def _fit_ours(X, y, w, folds, n_jobs):
    from hdtweedie import HDTweedieCV

    return HDTweedieCV(power=1.5, fold_ids=folds, n_jobs=n_jobs).fit(X, y, sample_weight=w)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_cv_hdtweedie(benchmark, n_jobs):
    X, y, w = _fits.data("motor")
    folds = _fits.fold_ids(X.shape[0])
    cv = benchmark.pedantic(
        _fit_ours, args=(X, y, w, folds, n_jobs), rounds=_rounds("hdtweedie"), iterations=1
    )
    _CV[n_jobs] = cv
    assert np.all(np.isfinite(cv.cv_mean_))
    assert cv.lambdas_.shape == (100,)
    if len(_CV) == 2:
        # Parallel folds must not change a single bit of the result.
        np.testing.assert_array_equal(_CV[1].cv_mean_, _CV[2].cv_mean_)
        np.testing.assert_array_equal(_CV[1].cv_std_, _CV[2].cv_std_)
    benchmark.extra_info.update(
        problem="motor",
        kind="cv",
        solver="hdtweedie",
        variant=f"n_jobs={n_jobs}",
        n_folds=int(np.unique(folds).size),
        shape=list(X.shape),
        lambda_min=float(cv.lambda_min_),
        lambda_min_index=int(np.argmin(np.abs(cv.lambdas_ - cv.lambda_min_))),
        lambda_1se=float(cv.lambda_1se_),
    )


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_cv_glum(benchmark, n_jobs):
    pytest.importorskip("glum")
    X, y, w = _fits.data("motor")
    folds = _fits.fold_ids(X.shape[0])
    lambdas = _fits.reference_path("motor").lambdas_
    model = benchmark.pedantic(
        _fits.glum_cv, args=(X, y, w, lambdas, folds, n_jobs), rounds=_rounds("glum"), iterations=1
    )
    assert model.alpha_ in lambdas
    benchmark.extra_info.update(
        problem="motor",
        kind="cv",
        solver="glum",
        variant=f"n_jobs={n_jobs}",
        n_folds=int(np.unique(folds).size),
        shape=list(X.shape),
        # glum picks the alpha with the smallest unweighted mean fold deviance.
        alpha_best=float(model.alpha_),
        alpha_best_index=int(np.flatnonzero(lambdas == model.alpha_)[0]),
    )
