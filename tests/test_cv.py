"""HDTweedieCV: fold arithmetic, selection, parallel determinism, early-stopping folds."""

import warnings

import numpy as np
import pytest

from hdtweedie import HDTweedie, HDTweedieCV
from hdtweedie._cv import FoldFitWarning, cv_summary, fold_loss_path, pointwise_loss
from hdtweedie._distribution import unit_deviance


def make_data(n=300, p=10, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    mu = np.exp(0.1 + 0.5 * X[:, 0] - 0.5 * X[:, 1])
    y = rng.poisson(mu) * rng.gamma(2.0, 0.5, size=n)
    return X, y


def test_cv_summary_by_hand():
    losses = np.array([[1.0, 0.5, 0.7], [2.0, 0.9, 0.8], [1.5, 0.7, np.nan]])
    weights = np.array([1.0, 2.0, 1.0])
    lambdas = np.array([3.0, 2.0, 1.0])
    cvm, cvsd, lmin, l1se = cv_summary(losses, weights, lambdas)
    np.testing.assert_allclose(cvm[:2], [(1 + 4 + 1.5) / 4, (0.5 + 1.8 + 0.7) / 4])
    np.testing.assert_allclose(cvm[2], (0.7 + 1.6) / 3)
    var0 = (1 * (1 - cvm[0]) ** 2 + 2 * (2 - cvm[0]) ** 2 + (1.5 - cvm[0]) ** 2) / 4
    np.testing.assert_allclose(cvsd[0], np.sqrt(var0 / 2))
    var2 = (1 * (0.7 - cvm[2]) ** 2 + 2 * (0.8 - cvm[2]) ** 2) / 3
    np.testing.assert_allclose(cvsd[2], np.sqrt(var2 / 1))  # N = 2 folds reached it
    assert lmin == 2.0  # cvm = 0.75 at lambda 2, 0.7667 at lambda 1
    assert l1se == 2.0


def test_pointwise_loss_kinds():
    y = np.array([0.0, 1.0, 3.0])
    mu = np.array([[0.5], [1.0], [2.0]])
    np.testing.assert_allclose(pointwise_loss(y, mu, "mse", 1.5)[:, 0], [0.25, 0, 1])
    np.testing.assert_allclose(pointwise_loss(y, mu, "mae", 1.5)[:, 0], [0.5, 0, 1])
    np.testing.assert_allclose(pointwise_loss(y, mu, "deviance", 1.5)[:, 0],
                               unit_deviance(y, mu[:, 0], 1.5))


def test_fold_loss_path_matches_a_manual_fit():
    X, y = make_data()
    w = np.ones(300)
    off = np.zeros(300)
    full = HDTweedie(n_lambdas=20).fit(X, y)
    train, test = np.arange(100, 300), np.arange(100)
    data, opts = HDTweedie()._check_inputs(X, y, w, off)
    losses, k, msg = fold_loss_path(data, opts.with_lambdas(full.lambdas_), train, test)
    assert msg is None and k == 20
    manual = HDTweedie(lambdas=full.lambdas_).fit(X[train], y[train])
    expect = unit_deviance(y[test][:, None], manual.predict_path(X[test]), 1.5).mean(axis=0)
    np.testing.assert_allclose(losses, expect, rtol=1e-12)


def test_attributes_and_selection():
    X, y = make_data()
    cv = HDTweedieCV(n_lambdas=30, random_state=0).fit(X, y)
    assert cv.cv_mean_.shape == (30,) and cv.fold_losses_.shape == (5, 30)
    np.testing.assert_allclose(cv.cv_upper_ - cv.cv_mean_, cv.cv_std_)
    i_min = np.nanargmin(cv.cv_mean_)
    assert cv.lambda_min_ == cv.lambdas_[i_min]
    assert cv.lambda_1se_ >= cv.lambda_min_
    assert cv.cv_mean_[list(cv.lambdas_).index(cv.lambda_1se_)] <= (
        cv.cv_mean_[i_min] + cv.cv_std_[i_min])
    assert cv.lambda_ == cv.lambda_1se_
    b0, b = cv.coef_at("lambda_1se")
    np.testing.assert_array_equal(cv.coef_, b[:, 0])
    np.testing.assert_allclose(cv.predict(X), np.exp(cv.intercept_ + X @ cv.coef_), rtol=1e-12)
    np.testing.assert_allclose(cv.predict(X, s="lambda_min"),
                               cv.path_.predict(X, s=cv.lambda_min_), rtol=1e-12)
    cv_min = HDTweedieCV(n_lambdas=30, random_state=0, select="lambda_min").fit(X, y)
    assert cv_min.lambda_ == cv.lambda_min_
    with pytest.raises(ValueError, match="s must be"):
        cv.coef_at("lambda_best")


def test_random_folds_are_balanced_and_seeded():
    X, y = make_data()
    a = HDTweedieCV(n_lambdas=5, n_folds=4, random_state=1).fit(X, y)
    b = HDTweedieCV(n_lambdas=5, n_folds=4, random_state=1).fit(X, y)
    np.testing.assert_array_equal(a.fold_ids_, b.fold_ids_)
    assert sorted(np.bincount(a.fold_ids_)) == [75, 75, 75, 75]


def test_n_jobs_gives_identical_results():
    X, y = make_data(n=600, p=12)
    kw = dict(n_lambdas=40, random_state=0, groups=[0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7])
    one = HDTweedieCV(n_jobs=1, **kw).fit(X, y)
    two = HDTweedieCV(n_jobs=2, **kw).fit(X, y)
    np.testing.assert_array_equal(one.fold_losses_, two.fold_losses_)
    np.testing.assert_array_equal(one.cv_mean_, two.cv_mean_)
    np.testing.assert_array_equal(one.cv_std_, two.cv_std_)
    assert one.lambda_1se_ == two.lambda_1se_ and one.lambda_min_ == two.lambda_min_


def test_fold_path_stopping_early_leaves_nan():
    X, y = make_data()
    ids = np.arange(300) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = HDTweedieCV(max_iter=150, fold_ids=ids).fit(X, y)
    reached = np.sum(~np.isnan(cv.fold_losses_), axis=1)
    assert np.all(reached <= cv.lambdas_.size)
    assert np.all(np.isfinite(cv.cv_mean_[: reached.min()]))
    # Past the shortest fold, the mean uses only the folds that got there.
    j = reached.min()
    if j < cv.lambdas_.size and reached.max() > j:
        ok = ~np.isnan(cv.fold_losses_[:, j])
        wts = np.bincount(ids)[ok]
        np.testing.assert_allclose(cv.cv_mean_[j], np.average(cv.fold_losses_[ok, j], weights=wts))


def test_fold_with_all_zero_training_y_is_nan_with_warning():
    X, y = make_data(n=90)
    ids = np.repeat([0, 1, 2], 30)
    y = y.copy()
    y[30:] = 0.0  # folds 1 and 2 train only on rows 0..29 plus zeros; fold 0 trains on zeros
    y[0] = max(y[0], 1.0)
    with pytest.warns(FoldFitWarning, match="fold 1 of 3 could not be fitted"):
        cv = HDTweedieCV(fold_ids=ids, n_lambdas=10).fit(X, y)
    assert np.all(np.isnan(cv.fold_losses_[0]))
    assert np.all(np.isfinite(cv.fold_losses_[1:]))
    assert np.isfinite(cv.lambda_min_)


def test_fold_ids_validation():
    X, y = make_data()
    with pytest.raises(ValueError, match="fold_ids must have at least 3"):
        HDTweedieCV(fold_ids=np.arange(300) % 2).fit(X, y)
    with pytest.raises(ValueError, match="fold_ids has 10 values"):
        HDTweedieCV(fold_ids=np.arange(10) % 3).fit(X, y)
    with pytest.raises(ValueError, match="n_folds"):
        HDTweedieCV(n_folds=2).fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        HDTweedieCV(loss="poisson").fit(X, y)
    with pytest.raises(ValueError, match="select"):
        HDTweedieCV(select="best").fit(X, y)


def test_relax_refits_selected_groups_without_penalty():
    X, y = make_data(n=2000, p=6, seed=5)
    groups = [0, 0, 1, 1, 2, 2]
    cv = HDTweedieCV(groups=groups, random_state=0, n_lambdas=30).fit(X, y)
    rx = HDTweedieCV(groups=groups, random_state=0, n_lambdas=30, relax=True).fit(X, y)
    assert rx.lambda_ == cv.lambda_
    np.testing.assert_array_equal(rx.coef_ != 0, cv.coef_ != 0)
    np.testing.assert_array_equal(rx.coef_path_, cv.coef_path_)
    cols = np.flatnonzero(cv.coef_ != 0)
    # The refit is the unpenalised optimum on the selected columns: its gradient vanishes.
    eta = rx.intercept_ + X @ rx.coef_
    q = y * np.exp(-0.5 * eta) - np.exp(0.5 * eta)
    np.testing.assert_allclose(q.mean(), 0, atol=1e-10)
    np.testing.assert_allclose(X[:, cols].T @ q / len(y), 0, atol=1e-10)
    # Shrinkage is removed: the refitted effects are larger in magnitude.
    assert np.all(np.abs(rx.coef_[cols]) >= np.abs(cv.coef_[cols]) - 1e-12)
    np.testing.assert_allclose(rx.predict(X), np.exp(eta), rtol=1e-12)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(n_lambdas=2),
    dict(n_lambdas=37, lambda_min_ratio=0.02, standardize=True),
    dict(groups=[0, 0, 1, 1, 2, 2, 3, 3, 4, 4], alpha=0.5, power=1.2),
    dict(power=1.0),
])
@pytest.mark.parametrize("sparse", [False, True])
def test_default_grid_is_the_full_paths_grid_bit_for_bit(kwargs, sparse):
    # CV starts the folds on a grid computed from lambda_max alone, while the full
    # path is still running; the two must be the same numbers, not just close.
    import scipy.sparse as sps

    from hdtweedie import _path

    X, y = make_data(n=200)
    rng = np.random.default_rng(0)
    w = rng.uniform(0.2, 1.0, size=200)
    off = rng.normal(scale=0.1, size=200)
    Xf = sps.csc_matrix(X) if sparse else X
    est = HDTweedie(**kwargs)
    full = est.fit(Xf, y, sample_weight=w, offset=off)
    data, opts = est._check_inputs(Xf, y, w, off)
    grid = _path.default_lambdas(data, opts)
    np.testing.assert_array_equal(grid, full.lambdas_)


def test_cv_losses_are_those_of_the_folds_on_the_full_grid():
    # Whatever the scheduling, each fold is fitted on the full path's lambdas.
    X, y = make_data()
    ids = np.arange(300) % 4
    cv = HDTweedieCV(n_lambdas=15, fold_ids=ids, n_jobs=2).fit(X, y)
    data, opts = HDTweedie()._check_inputs(X, y, None, None)
    for i in range(4):
        losses, _, _ = fold_loss_path(data, opts.with_lambdas(cv.path_.lambdas_),
                                      np.flatnonzero(ids != i), np.flatnonzero(ids == i))
        np.testing.assert_array_equal(cv.fold_losses_[i], losses)
    np.testing.assert_array_equal(cv.lambdas_, HDTweedie(n_lambdas=15).fit(X, y).lambdas_)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_full_path_stopping_early_refits_folds_on_its_grid(n_jobs):
    # The full path stops before the last lambda: the folds must use its (shorter)
    # grid, and its ConvergenceWarning must reach the caller from the worker thread.
    from hdtweedie._path import ConvergenceWarning

    X, y = make_data()
    ids = np.arange(300) % 3
    full_passes = HDTweedie().fit(X, y).n_passes_
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        cv = HDTweedieCV(max_iter=full_passes // 2, fold_ids=ids, n_jobs=n_jobs).fit(X, y)
    k = cv.lambdas_.size
    assert 0 < k < 100
    assert cv.fold_losses_.shape == (3, k)
    assert cv.cv_mean_.shape == (k,)


@pytest.mark.parametrize("power", [1.0 + 1e-9, 1.01, 1.3, 1.5, 1.99, 2.0 - 1e-9])
def test_compiled_fold_deviance_matches_the_unit_deviance(power):
    # CV's deviance for 1 < p < 2 is computed in the kernel module from eta;
    # it must be the weighted mean of unit_deviance(y, exp(eta)).
    from hdtweedie import _cd

    rng = np.random.default_rng(int(power * 1000))
    n, m = 500, 17
    y = rng.gamma(0.5, 2.0, size=n) * (rng.random(n) < 0.4)
    w = rng.uniform(0.1, 2.0, size=n)
    eta = rng.normal(scale=4.0, size=(n, m))
    got = _cd.cv_deviance(y, w, eta, power)
    expect = np.average(unit_deviance(y[:, None], np.exp(eta), power), axis=0, weights=w)
    np.testing.assert_allclose(got, expect, rtol=1e-13)


def test_compiled_fold_deviance_leaves_out_unrepresentable_entries():
    from hdtweedie import _cd

    y = np.array([0.0, 1.5, 3.0])
    w = np.array([1.0, 2.0, 0.5])
    eta = np.zeros((3, 3))
    eta[1, 0] = 800.0            # one entry out of range: the others still count
    eta[:, 2] = -900.0           # every entry out of range: NaN
    got = _cd.cv_deviance(y, w, eta, 1.5)
    keep = [0, 2]
    expect0 = np.average(unit_deviance(y[keep], np.ones(2), 1.5), weights=w[keep])
    np.testing.assert_allclose(got[0], expect0, rtol=1e-14)
    np.testing.assert_allclose(got[1], np.average(unit_deviance(y, np.ones(3), 1.5),
                                                  weights=w), rtol=1e-14)
    assert np.isnan(got[2])


@pytest.mark.parametrize("n_lambdas", [2, 3, 40])
def test_the_python_grid_is_the_grid_the_kernel_walks(n_lambdas):
    # The kernel builds its own default grid; the one Python grid function must
    # reproduce it bit for bit (the first value is the kernel's "infinity").
    from hdtweedie import _path

    X, y = make_data(n=200)
    data, opts = HDTweedie(n_lambdas=n_lambdas)._check_inputs(X, y, None, None)
    p = X.shape[1]
    wn = data.w / data.w.sum()
    out = _path._run_kernel(data.X, data.y, wn, data.offset, np.zeros(p), np.ones(p),
                            data.groups, data.penalty_factor, opts, 0.0)
    alam, lam_max = out.lambdas, out.lambda_max
    assert out.status == 0 and alam.size == n_lambdas
    grid = _path.lambda_grid(lam_max, n_lambdas, opts.lambda_min_ratio)
    np.testing.assert_array_equal(alam[1:], grid[1:])
