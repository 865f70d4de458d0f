"""Choosing the Tweedie power with lambda by held-out log-likelihood (HDTweedieCV(power=[...]))."""

import numpy as np
import pytest

from hdtweedie import HDTweedieCV, tweedie
from hdtweedie._cv import cv_summary, fold_loss_path
from hdtweedie._power_cv import DEFAULT_POWERS, check_power_grid

N_LAMBDAS = 12


def simulate(seed=0, n=800, power=1.3, phi=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    mu = np.exp(0.5 + 0.4 * X[:, 0] - 0.3 * X[:, 1])
    return X, tweedie.rvs(mu, phi, power, random_state=seed + 10)


@pytest.fixture(scope="module")
def data():
    return simulate()


@pytest.fixture(scope="module")
def auto_fit(data):
    X, y = data
    return HDTweedieCV(power="auto", n_lambdas=N_LAMBDAS, random_state=0).fit(X, y)


def test_power_near_the_simulated_one(auto_fit):
    assert list(auto_fit.powers_) == list(DEFAULT_POWERS)
    assert abs(auto_fit.power_ - 1.3) <= 0.1 + 1e-12
    assert auto_fit.loss_ == "loglik"
    best = np.nanmax(auto_fit.cv_loglik_, axis=1)
    assert np.argmax(best) == list(auto_fit.powers_).index(auto_fit.power_)


def test_curves_shape_and_chosen_power_attributes(auto_fit, data):
    X, y = data
    k = list(auto_fit.powers_).index(auto_fit.power_)
    assert auto_fit.cv_loglik_.shape == (9, N_LAMBDAS) == auto_fit.cv_lambdas_.shape
    np.testing.assert_array_equal(auto_fit.cv_loglik_[k], -auto_fit.cv_mean_)
    np.testing.assert_array_equal(auto_fit.cv_lambdas_[k], auto_fit.lambdas_)
    # each power has its own default grid (lambda_max depends on the power)
    assert len({row[0] for row in auto_fit.cv_lambdas_}) == 9
    assert auto_fit.path_.power == auto_fit.power_
    assert auto_fit.lambda_ in auto_fit.lambdas_ or auto_fit.lambda_ == auto_fit.lambda_1se_
    # the fit at the chosen power is that of a single-power loglik CV on the same folds
    one = HDTweedieCV(power=auto_fit.power_, loss="loglik", n_lambdas=N_LAMBDAS,
                      fold_ids=auto_fit.fold_ids_).fit(X, y)
    np.testing.assert_array_equal(one.cv_mean_, auto_fit.cv_mean_)
    np.testing.assert_array_equal(one.coef_, auto_fit.coef_)
    assert (one.lambda_min_, one.lambda_1se_) == (auto_fit.lambda_min_, auto_fit.lambda_1se_)
    assert auto_fit.predict(X[:3]).shape == (3,)


def test_heldout_loglik_by_hand(auto_fit, data):
    """Per fold and lambda: phi by ML on the training rows, loss = -mean logpdf on the test rows."""
    X, y = data
    i, j = 2, 5  # a fold, a lambda
    p = float(auto_fit.powers_[i])
    lambdas = auto_fit.cv_lambdas_[i]
    train, test = auto_fit.fold_ids_ != 0, auto_fit.fold_ids_ == 0
    from hdtweedie import HDTweedie

    path = HDTweedie(power=p, lambdas=lambdas).fit(X[train], y[train])
    mu_train = path.predict(X[train], s=lambdas[j])
    mu_test = path.predict(X[test], s=lambdas[j])
    phi = tweedie.dispersion_mle(y[train], mu_train, p)
    expected = -np.mean(tweedie.logpdf(y[test], mu_test, phi, p))
    one = HDTweedieCV(power=p, loss="loglik", lambdas=lambdas, fold_ids=auto_fit.fold_ids_).fit(X, y)
    np.testing.assert_allclose(one.fold_losses_[0, j], expected, rtol=1e-9)
    np.testing.assert_allclose(auto_fit.cv_loglik_[i], -one.cv_mean_, rtol=1e-12)


def test_dispersion_is_the_training_ml_phi(auto_fit, data):
    X, y = data
    mu = auto_fit.predict(X)
    np.testing.assert_allclose(auto_fit.dispersion_, tweedie.dispersion_mle(y, mu, auto_fit.power_),
                               rtol=1e-9)


def test_weights_enter_through_the_dispersion():
    X, y = simulate(seed=3, n=300)
    w = np.random.default_rng(4).uniform(0.5, 2.0, y.size)
    w[:5] = 0.0
    cv = HDTweedieCV(power=[1.3, 1.6], n_lambdas=5, random_state=1).fit(X, y, sample_weight=w)
    test = cv.fold_ids_ == 1
    lam = cv.lambdas_[2]
    from hdtweedie import HDTweedie

    train = ~test
    path = HDTweedie(power=cv.power_, lambdas=cv.lambdas_).fit(X[train], y[train], sample_weight=w[train])
    phi = tweedie.dispersion_mle(y[train], path.predict(X[train], s=lam), cv.power_, w[train])
    keep = test & (w > 0)
    expected = -np.mean(tweedie.logpdf(y[keep], path.predict(X[keep], s=lam), phi / w[keep], cv.power_))
    np.testing.assert_allclose(cv.fold_losses_[1, 2], expected, rtol=1e-9)


def test_scalar_power_keeps_the_deviance_cv(data):
    X, y = data
    cv = HDTweedieCV(power=1.5, n_lambdas=N_LAMBDAS, random_state=0).fit(X, y)
    assert cv.loss_ == "deviance" and cv.power_ == 1.5
    for name in ("powers_", "cv_loglik_", "cv_lambdas_"):
        assert not hasattr(cv, name)
    # the curve is the fold deviance path of the full fit's grid, combined as R does
    opts_cv = HDTweedieCV(power=1.5, n_lambdas=N_LAMBDAS)
    fit_data, opts = opts_cv._check_inputs(X, y, None, None)
    opts = opts.with_lambdas(cv.lambdas_)
    folds = [(np.flatnonzero(cv.fold_ids_ != i), np.flatnonzero(cv.fold_ids_ == i)) for i in range(5)]
    losses = np.vstack([fold_loss_path(fit_data, opts, tr, te)[0] for tr, te in folds])
    cvm, cvsd, lmin, l1se = cv_summary(losses, [te.size for _, te in folds], cv.lambdas_)
    np.testing.assert_array_equal(cv.cv_mean_, cvm)
    np.testing.assert_array_equal(cv.cv_std_, cvsd)
    assert (cv.lambda_min_, cv.lambda_1se_) == (lmin, l1se)
    explicit = HDTweedieCV(power=1.5, loss="deviance", n_lambdas=N_LAMBDAS, random_state=0).fit(X, y)
    np.testing.assert_array_equal(explicit.cv_mean_, cv.cv_mean_)


def test_progress_counts_every_power(data):
    X, y = data
    calls = []
    HDTweedieCV(power=[1.2, 1.5], n_lambdas=4, n_folds=3, random_state=0).fit(
        X[:200], y[:200], progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 8) for i in range(1, 9)]


def test_power_one_has_no_dispersion(data):
    X, y = data
    cv = HDTweedieCV(power=1.0, n_lambdas=4, random_state=0).fit(X, np.round(y))
    assert cv.dispersion_ is None
    with pytest.raises(ValueError, match="power"):
        HDTweedieCV(power=1.0, loss="loglik", n_lambdas=4).fit(X, np.round(y))


@pytest.mark.parametrize("power, exc, fragment", [
    ([], ValueError, "power is an empty list"),
    ([1.0, 1.5], ValueError, "got 1.0"),
    ([1.2, 2.5], ValueError, "got 2.5"),
    ([1.2, float("nan")], ValueError, "got nan"),
    ([1.5, 1.5], ValueError, "distinct"),
    (["1.5", 1.6], TypeError, "'1.5'"),
    ([True, 1.5], TypeError, "True"),
    ([[1.2, 1.3]], ValueError, "shape"),
    ("fast", ValueError, "'fast'"),
])
def test_bad_power_lists(power, exc, fragment, data):
    X, y = data
    with pytest.raises(exc, match="power") as info:
        HDTweedieCV(power=power, n_lambdas=3).fit(X, y)
    assert fragment in str(info.value)


def test_deviance_cannot_compare_powers(data):
    X, y = data
    with pytest.raises(ValueError, match="cannot compare powers"):
        HDTweedieCV(power=[1.2, 1.5], loss="deviance").fit(X, y)


def test_check_power_grid_sorts_and_passes_scalars():
    assert check_power_grid(1.5) is None and check_power_grid(np.float64(1.2)) is None
    np.testing.assert_array_equal(check_power_grid((1.7, 1.2)), [1.2, 1.7])
    np.testing.assert_array_equal(check_power_grid(np.array([1.4])), [1.4])


def test_dispersion_along_a_path_where_the_search_meets_a_zero_score():
    """On this path the warm-started Newton search lands on an exactly zero score at some lambdas."""
    pytest.importorskip("pandas")
    from hdtweedie import HDTweedie
    from hdtweedie._power_cv import path_dispersions
    from hdtweedie.datasets import NOISE_FACTORS, RATING_FACTORS, make_motor_portfolio
    from hdtweedie.portfolio import encode_portfolio

    df = make_motor_portfolio(n=5000, random_state=2)
    d = encode_portfolio(df, response="incurred", factors=list(RATING_FACTORS) + list(NOISE_FACTORS),
                         exposure="exposure")
    path = HDTweedie(power=1.2, groups=list(d.encoder.groups_), n_lambdas=100).fit(
        d.X, d.y, offset=d.offset)
    mus = path.predict_path(d.X, offset=d.offset)
    phis = path_dispersions(d.y, mus, np.ones(d.y.size), 1.2)
    assert np.all(np.isfinite(phis))
    for j in (7, 9):
        ll = [np.sum(tweedie.logpdf(d.y, mus[:, j], phis[j] * f, 1.2)) for f in (1 - 1e-4, 1, 1 + 1e-4)]
        assert ll[1] >= max(ll[0], ll[2])


def test_inference_on_a_cv_that_chose_its_power():
    # The chosen power_ (not the list given as power) is the model's power.
    from hdtweedie import FactorEncoder, HDTweedieCV
    from hdtweedie.datasets import make_motor_portfolio

    df = make_motor_portfolio(3000, random_state=1)
    factors = ["area", "ncd_years", "conviction"]
    enc = FactorEncoder().set_output(transform="pandas").fit(df[factors])
    X, y, off = enc.transform(df[factors]), df["incurred"].to_numpy(), np.log(df["exposure"].to_numpy())
    cv = HDTweedieCV(power=[1.3, 1.6], groups="factor", relax=True, n_folds=3, n_lambdas=10,
                     random_state=0).fit(X, y, offset=off)
    table = cv.coef_table(X, y, offset=off)
    assert cv.power_ in (1.3, 1.6)
    assert np.all(np.isfinite(table["se"]))


def _fold_loglik_on_copies(data, opts, train, test):
    """fold_loglik_path as it was: copies of the fold's rows and full (rows, lambdas) means."""
    from hdtweedie import _path
    from hdtweedie._power_cv import _heldout_loss, path_dispersions

    out = np.full(opts.n_lambdas, np.nan)
    res, _ = _path.solve_fold(data, opts, train)
    k = res.lambdas.size
    fit_rows = data.rows(train[data.w[train] > 0])
    held = data.rows(test[data.w[test] > 0])
    mu_fit = np.exp(np.asarray(fit_rows.X @ res.coefs) + res.intercepts + fit_rows.offset[:, None])
    mu_held = np.exp(np.asarray(held.X @ res.coefs) + res.intercepts + held.offset[:, None])
    phi = path_dispersions(fit_rows.y, mu_fit, fit_rows.w, opts.power)
    out[:k] = _heldout_loss(held.y, mu_held, held.w, phi, opts.power)
    return out, k


@pytest.mark.parametrize("block_bytes", [8 * 1_000, 4 << 20])  # 1 lambda a block; all at once
@pytest.mark.parametrize("sparse", [False, True])
def test_fold_loglik_in_lambda_blocks_equals_the_full_matrices(block_bytes, sparse,
                                                              monkeypatch):
    """The fold's means are formed a few lambdas at a time on X in place, the dispersion's
    warm start carried across blocks: the losses are those of copied rows and full means."""
    import scipy.sparse as sp

    from hdtweedie import HDTweedie, _power_cv
    from hdtweedie._path import solve

    X, y = simulate(seed=3, n=600)
    if sparse:
        X = sp.csc_matrix(np.where(np.abs(X) > 0.7, X, 0.0))
    w = np.random.default_rng(3).uniform(0.2, 1.0, y.size)
    w[::17] = 0.0  # rows of weight 0 have no likelihood
    data, opts = HDTweedie(power=1.4, n_lambdas=N_LAMBDAS)._check_inputs(X, y, w, None)
    opts = opts.with_lambdas(solve(data, opts).lambdas)
    test = np.arange(0, y.size, 5)
    train = np.setdiff1d(np.arange(y.size), test)
    expected, k = _fold_loglik_on_copies(data, opts, train, test)
    monkeypatch.setattr(_power_cv, "HELD_OUT_BLOCK_BYTES", block_bytes)
    got, k_got, why = _power_cv.fold_loglik_path(data, opts, train, test)
    assert why is None and k_got == k == N_LAMBDAS
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got, expected)
