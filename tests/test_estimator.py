"""HDTweedie: the path, its grid, interpolation, prediction, status codes and errors."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import d2_tweedie_score

from hdtweedie import ConvergenceWarning, HDTweedie


def make_data(n=200, p=8, seed=0, power=1.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    mu = np.exp(0.2 + 0.6 * X[:, 0] - 0.4 * X[:, 1] + 0.3 * X[:, 2])
    y = rng.poisson(mu) * rng.gamma(2.0, 0.5, size=n)
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = make_data()
    return X, y, HDTweedie().fit(X, y)


def test_fitted_attributes(fitted):
    X, y, m = fitted
    k = m.lambdas_.size
    assert k == 100
    assert m.coef_path_.shape == (8, k) and m.intercept_path_.shape == (k,)
    assert m.df_.shape == (k,) and m.status_ == 0 and m.n_passes_ > 0
    np.testing.assert_array_equal(m.coef_, m.coef_path_[:, -1])
    assert m.intercept_ == m.intercept_path_[-1]
    np.testing.assert_array_equal(m.df_, np.count_nonzero(m.coef_path_, axis=0))
    assert m.n_features_in_ == 8


def test_lambda_grid_is_geometric_from_lambda_max(fitted):
    _, _, m = fitted
    ratios = m.lambdas_[1:] / m.lambdas_[:-1]
    np.testing.assert_allclose(ratios, 0.001 ** (1 / 99), rtol=1e-12)
    np.testing.assert_allclose(m.lambdas_[0], m.lambda_max_, rtol=1e-12)
    # At lambda_max every penalised coefficient is zero, and just below it one moves.
    assert np.all(m.coef_path_[:, 0] == 0)
    assert np.any(m.coef_path_[:, 1] != 0)


def test_default_lambda_min_ratio_wide_data():
    X, y = make_data(n=40, p=60)
    m = HDTweedie(n_lambdas=20).fit(X, y)
    np.testing.assert_allclose(m.lambdas_[-1] / m.lambdas_[0], 0.05, rtol=1e-10)


def test_user_lambdas_sorted_decreasing():
    X, y = make_data()
    m = HDTweedie(lambdas=[0.01, 0.1, 0.05]).fit(X, y)
    np.testing.assert_array_equal(m.lambdas_, [0.1, 0.05, 0.01])


def test_coef_at_grid_and_between(fitted):
    _, _, m = fitted
    b0, b = m.coef_at(m.lambdas_[[3, 10]])
    np.testing.assert_array_equal(b, m.coef_path_[:, [3, 10]])
    np.testing.assert_array_equal(b0, m.intercept_path_[[3, 10]])
    # Linear in lambda between neighbours.
    s = 0.3 * m.lambdas_[5] + 0.7 * m.lambdas_[6]
    b0, b = m.coef_at(s)
    expect = 0.3 * m.coef_path_[:, 5] + 0.7 * m.coef_path_[:, 6]
    np.testing.assert_allclose(b[:, 0], expect, rtol=1e-10, atol=1e-14)
    # Clamped outside the grid.
    b0, b = m.coef_at([10 * m.lambdas_[0], 1e-12])
    np.testing.assert_array_equal(b[:, 0], m.coef_path_[:, 0])
    np.testing.assert_array_equal(b[:, 1], m.coef_path_[:, -1])
    assert b.shape == (8, 2) and b0.shape == (2,)


def test_several_s_interpolated_each_on_its_own(fitted):
    _, _, m = fitted
    s = np.array([0.37 * m.lambdas_[2] + 0.63 * m.lambdas_[3],
                  0.81 * m.lambdas_[40] + 0.19 * m.lambdas_[41]])
    b0_all, b_all = m.coef_at(s)
    for i in range(2):
        b0, b = m.coef_at(s[i])
        assert b0_all[i] == b0[0]
        np.testing.assert_array_equal(b_all[:, i], b[:, 0])


def test_predict_kinds_and_path(fitted):
    X, _, m = fitted
    eta = m.intercept_ + X @ m.coef_
    np.testing.assert_allclose(m.predict(X, kind="link"), eta, rtol=1e-12)
    np.testing.assert_allclose(m.predict(X), np.exp(eta), rtol=1e-12)
    path = m.predict_path(X)
    assert path.shape == (200, 100)
    np.testing.assert_allclose(path[:, -1], np.exp(eta), rtol=1e-12)
    two = m.predict(X, s=m.lambdas_[[0, 5]])
    assert two.shape == (200, 2)
    off = np.log(np.linspace(0.5, 2.0, 200))
    np.testing.assert_allclose(m.predict(X, offset=off), np.exp(eta + off), rtol=1e-12)
    with pytest.raises(ValueError, match="kind"):
        m.predict(X, kind="probability")


def test_score_is_d2_tweedie(fitted):
    X, y, m = fitted
    expected = d2_tweedie_score(y, m.predict(X), power=1.5)
    assert m.score(X, y) == pytest.approx(expected, rel=1e-10)
    assert 0 < m.score(X, y) < 1


def test_standardize_returns_original_scale():
    X, y = make_data()
    X = X * np.array([1, 10, 0.1, 1, 5, 1, 1, 2]) + 3
    m = HDTweedie(standardize=True, n_lambdas=30).fit(X, y)
    mean, sd = X.mean(0), X.std(0)
    Z = (X - mean) / sd
    # Fitting the standardised data by hand gives the same predictions.
    m2 = HDTweedie(n_lambdas=30).fit(Z, y)
    np.testing.assert_allclose(m.predict_path(X), m2.predict_path(Z), rtol=1e-9)
    np.testing.assert_allclose(m.coef_path_, m2.coef_path_ / sd[:, None], rtol=1e-9, atol=1e-12)


def test_groups_any_labels_any_order():
    X, y = make_data()
    contiguous = HDTweedie(groups=[1, 1, 2, 2, 3, 3, 4, 4], n_lambdas=20).fit(X, y)
    perm = np.array([0, 2, 4, 6, 1, 3, 5, 7])
    labels = np.array(["a", "a", "b", "b", "c", "c", "d", "d"], dtype=object)[perm]
    scrambled = HDTweedie(groups=list(labels), n_lambdas=20).fit(X[:, perm], y)
    np.testing.assert_allclose(scrambled.coef_path_, contiguous.coef_path_[perm], atol=1e-12)
    assert scrambled.group_labels_ == ["a", "b", "c", "d"]
    assert scrambled.n_passes_ == contiguous.n_passes_


def test_penalty_factor_zero_leaves_group_unpenalised():
    X, y = make_data()
    m = HDTweedie(penalty_factor=[0] + [1] * 7, n_lambdas=10).fit(X, y)
    assert np.all(m.coef_path_[0] != 0)


def test_max_iter_status_and_warning():
    X, y = make_data()
    with pytest.warns(ConvergenceWarning, match="not reached after max_iter=40"):
        m = HDTweedie(max_iter=40).fit(X, y)
    k = -m.status_
    assert k > 1 and m.lambdas_.size == k - 1


def test_pmax_status_and_warning():
    X, y = make_data()
    with pytest.warns(ConvergenceWarning, match="exceeds pmax=1"):
        m = HDTweedie(pmax=1).fit(X, y)
    assert m.status_ <= -10000
    assert m.lambdas_.size == -10000 - m.status_ - 1


def test_dfmax_ends_path_normally():
    X, y = make_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = HDTweedie(dfmax=2, pmax=8).fit(X, y)
    assert m.status_ == 0 and m.lambdas_.size < 100
    # The path ends at the first lambda with more than dfmax non-zero groups.
    assert np.count_nonzero(m.coef_path_[:, -1]) > 2
    assert np.count_nonzero(m.coef_path_[:, -2]) <= 2


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = make_data()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    m = HDTweedie(n_lambdas=10).fit(df, y)
    assert list(m.feature_names_in_) == [f"f{i}" for i in range(8)]
    np.testing.assert_allclose(m.predict(df), np.exp(m.intercept_ + X @ m.coef_), rtol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(power=0.5), "power"),
    (dict(power=2.5), "power"),
    (dict(power="1.5"), "power"),
    (dict(alpha=0.0), "alpha"),
    (dict(alpha=1.5), "alpha"),
    (dict(lambda_min_ratio=1.0), "lambda_min_ratio"),
    (dict(lambdas=[0.1, -0.1]), "lambdas"),
    (dict(penalty_factor=[0] * 8), "penalty factors are <= 0"),
    (dict(penalty_factor=[1, 1]), "penalty_factor"),
    (dict(groups=[1, 2]), "groups"),
    (dict(n_lambdas=0), "n_lambdas"),
    (dict(tol=-1.0), "tol"),
    (dict(max_iter=0), "max_iter"),
])
def test_bad_parameters_name_themselves(kwargs, match):
    X, y = make_data(n=30, p=8)
    with pytest.raises((ValueError, TypeError), match=match):
        HDTweedie(**kwargs).fit(X, y)


def test_fatal_errors_as_r():
    X, y = make_data(n=30, p=4)
    with pytest.raises(ValueError, match="y must be non-negative"):
        HDTweedie().fit(X, -y - 1)
    w = np.ones(30)
    w[3] = -1
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        HDTweedie().fit(X, y, sample_weight=w)
    Xc = X.copy()
    Xc[:, 2] = 1.0
    with pytest.raises(ValueError, match="index 2.*zero variance"):
        HDTweedie(standardize=True).fit(Xc, y)
    with pytest.raises(ValueError, match="y has 29 values"):
        HDTweedie().fit(X, y[:-1])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        HDTweedie().fit(Xn, y)
    with pytest.raises(ValueError, match="y is zero in every row"):
        HDTweedie().fit(X, np.zeros(30))


def test_coef_series_labels_coefficients():
    pd = pytest.importorskip("pandas")
    from hdtweedie import coef_series

    X, y = make_data()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    m = HDTweedie(n_lambdas=10).fit(df, y)
    ser = coef_series(m)
    assert list(ser.index) == ["(intercept)"] + [f"f{i}" for i in range(8)]
    np.testing.assert_array_equal(ser.to_numpy(), np.r_[m.intercept_, m.coef_])
    at = coef_series(m, s=m.lambdas_[3])
    np.testing.assert_array_equal(at.to_numpy()[1:], m.coef_path_[:, 3])
    unnamed = coef_series(HDTweedie(n_lambdas=5).fit(X, y))
    assert unnamed.index[1] == "x0"


def test_linear_predictor_clip_warns_and_stays_finite():
    # Half the rows at offset +700, half at -700: any intercept step pushes one
    # half past the range where exp() is finite.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    off = np.r_[np.full(50, 700.0), np.full(50, -700.0)]
    y = np.ones(100)
    with pytest.warns(RuntimeWarning, match=r"left \[-700, 700\]"):
        m = HDTweedie(n_lambdas=5, max_iter=100_000).fit(X, y, offset=off)
    assert np.all(np.isfinite(m.coef_path_)) and np.all(np.isfinite(m.intercept_path_))
