"""Scale of y and level of the offset: the penalised problem is invariant, so is the path.

For the loss L of ``HDTweedie``, L(eta; s y) = s^(2-p) L(eta - log s; y): the path on
``s y`` has the same coefficients, lambdas times ``s^(2-p)`` and intercepts plus
``log s``.  A constant added to the offset moves only the intercept.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from hdtweedie import HDTweedie, HDTweedieCV


def make_data(n=300, p=6, seed=0, power=1.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    mu = np.exp(0.3 + 0.5 * X[:, 0] - 0.4 * X[:, 1])
    y = rng.poisson(mu) * rng.gamma(2.0, 0.5, size=n)
    if power == 2:
        y = y + 0.1
    return X, y


def assert_same_path(scaled, base, s, power, shift=0.0):
    np.testing.assert_allclose(scaled.coef_path_, base.coef_path_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(scaled.lambdas_, base.lambdas_ * s ** (2 - power), rtol=1e-12)
    np.testing.assert_allclose(scaled.intercept_path_, base.intercept_path_ + np.log(s) - shift,
                               rtol=0, atol=1e-7)


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
@pytest.mark.parametrize("s", [3e31, 1e-20, 2.0**-11 * 3, 5e4])
def test_scaled_y_gives_the_same_default_path(power, s):
    X, y = make_data(power=power)
    base = HDTweedie(power=power, n_lambdas=30).fit(X, y)
    scaled = HDTweedie(power=power, n_lambdas=30).fit(X, y * s)
    assert scaled.lambdas_.size == 30 and scaled.status_ == 0
    np.testing.assert_allclose(scaled.lambda_max_, base.lambda_max_ * s ** (2 - power), rtol=1e-12)
    assert_same_path(scaled, base, s, power)


@pytest.mark.parametrize("power", [1.2, 1.8])
def test_scaled_y_with_user_lambdas(power):
    X, y = make_data(power=power)
    lam = np.geomspace(0.3, 0.003, 12)
    s = 3e31
    base = HDTweedie(power=power, lambdas=lam).fit(X, y)
    scaled = HDTweedie(power=power, lambdas=lam * s ** (2 - power)).fit(X, y * s)
    np.testing.assert_array_equal(scaled.lambdas_, lam * s ** (2 - power))
    np.testing.assert_allclose(scaled.coef_path_, base.coef_path_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(scaled.intercept_path_, base.intercept_path_ + np.log(s), atol=1e-7)


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
@pytest.mark.parametrize("c", [150.0, -150.0, 40.0])
def test_constant_offset_moves_only_the_intercept(power, c):
    X, y = make_data(power=power)
    base = HDTweedie(power=power, n_lambdas=30).fit(X, y)
    shifted = HDTweedie(power=power, n_lambdas=30).fit(X, y, offset=np.full(300, c))
    assert np.count_nonzero(shifted.coef_path_) > 0
    np.testing.assert_allclose(shifted.lambdas_, base.lambdas_, rtol=1e-12)
    assert_same_path(shifted, base, 1.0, power, shift=c)


def test_large_offset_with_scaled_y_and_sparse_standardized_x():
    X, y = make_data()
    rng = np.random.default_rng(1)
    off = rng.normal(scale=0.3, size=300)
    base = HDTweedie(n_lambdas=20, standardize=True).fit(X, y, offset=off)
    s = 1e12
    moved = HDTweedie(n_lambdas=20, standardize=True).fit(sp.csc_matrix(X), y * s, offset=off + 60)
    assert_same_path(moved, base, s, 1.5, shift=60)
    np.testing.assert_allclose(moved.predict(X, offset=off + 60), base.predict(X, offset=off) * s,
                               rtol=1e-6)


def test_cv_on_scaled_y_selects_the_same_lambda():
    X, y = make_data()
    base = HDTweedieCV(n_lambdas=20, random_state=0).fit(X, y)
    s = 3e31
    scaled = HDTweedieCV(n_lambdas=20, random_state=0).fit(X, y * s)
    i = list(base.lambdas_).index(base.lambda_)
    assert scaled.lambda_ == scaled.lambdas_[i]
    np.testing.assert_allclose(scaled.coef_, base.coef_, rtol=1e-7, atol=1e-9)


def test_ordinary_data_is_not_transformed():
    # y near 1 and offsets near 0 reach the kernel exactly as given: the same passes
    # as the untransformed problem whatever the rescaling thresholds.
    import hdtweedie._path as path_module

    X, y = make_data()
    off = np.random.default_rng(2).normal(scale=0.5, size=300)
    est = HDTweedie(n_lambdas=30)
    data, opts = est._check_inputs(X, y, None, off)
    wn = data.w / data.w.sum()
    rs = path_module._Rescaling.for_data(data.y, wn, data.offset, opts.power)
    assert (rs.shift, rs.y_scale, rs.lambda_factor) == (0.0, 1.0, 1.0)
