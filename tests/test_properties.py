"""Invariances and equivalences of the fitted path (property-based).

Each property is an exact identity between two optimisation problems; the
two fits start from different points or sum in a different order, so they
agree only up to rounding and the stopping rule.  The descent converges
linearly, and a fit stops once no coefficient moves by more than
``sqrt(tol)`` in an iteration, so two solves of one problem differ by a small
multiple of ``sqrt(tol)``.  The fits use ``tol=1e-20`` (changes below 1e-10),
which makes the asserted 1e-8 meaningful: a mis-scaled weight, offset or
lambda moves the path by 1e-3 or more.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hdtweedie import HDTweedie, HDTweedieCV
from hdtweedie._cv import FoldFitWarning
from hdtweedie._path import standardization

from conftest import make_problem

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
TIGHT = 1e-20
# Tight fits stop at this many passes rather than spin on rounding noise (default 3e8).
CAP = 5_000_000
POWERS = st.sampled_from([1.0, 1.3, 1.5, 1.9, 2.0])


def assert_same_path(a, b, atol=1e-8, intercept_shift=0.0):
    np.testing.assert_allclose(a.lambdas_, b.lambdas_, rtol=1e-8)
    np.testing.assert_allclose(a.coef_path_, b.coef_path_, atol=atol, rtol=0)
    np.testing.assert_allclose(a.intercept_path_ + intercept_shift, b.intercept_path_,
                               atol=atol, rtol=0)


# --------------------------------------------------------------------------------------
# Offset
# --------------------------------------------------------------------------------------
@settings(max_examples=50, **SETTINGS)
@given(st.integers(0, 2**32 - 1), POWERS, st.floats(-3, 3), st.booleans(), st.booleans())
def test_constant_offset_shifts_only_the_intercept(seed, power, c, grouped, weighted):
    X, y, rng = make_problem(seed, power=power)
    w = rng.uniform(0.2, 2.0, size=40) if weighted else None
    kw = dict(power=power, groups=[0, 1, 0, 2, 1] if grouped else None, tol=TIGHT, max_iter=CAP,
              n_lambdas=15)
    base = HDTweedie(**kw).fit(X, y, sample_weight=w)
    shifted = HDTweedie(**kw).fit(X, y, sample_weight=w, offset=np.full(40, c))
    # The default grid comes from the intercept-only fit, which is the same problem.
    assert_same_path(base, shifted, intercept_shift=-c)
    # Also on user lambdas, and with a non-constant offset added to both.
    o = rng.normal(0, 0.3, size=40)
    lam = base.lambdas_[::3]
    a = HDTweedie(**kw, lambdas=lam).fit(X, y, sample_weight=w, offset=o)
    b = HDTweedie(**kw, lambdas=lam).fit(X, y, sample_weight=w, offset=o + c)
    assert_same_path(a, b, intercept_shift=-c)


@settings(max_examples=50, **SETTINGS)
@given(st.integers(0, 2**32 - 1), POWERS, st.booleans(), st.booleans())
def test_exposure_offset_equals_rate_model(seed, power, grouped, weighted):
    """Offset log(e) on y equals the rate model y/e with weights v e^(2-p).

    With ``mu_i = e_i exp(eta_i)`` the loss term is
    ``y e^(1-p) exp(-(p-1) eta)/(p-1) + e^(2-p) exp((2-p) eta)/(2-p)
    = e^(2-p) [ (y/e) exp(-(p-1) eta)/(p-1) + exp((2-p) eta)/(2-p) ]``,
    i.e. the rate model with weights ``v_i e_i^(2-p)`` (``v_i e_i`` for the
    Poisson, ``v_i`` for the Gamma).  Weights are normalised, so the exposure
    loss is ``S = sum(v e^(2-p)) / sum(v)`` times the rate loss and the same
    coefficients solve lambda (exposure) and ``lambda / S`` (rate).
    """
    X, counts, rng = make_problem(seed, power=power)
    e = rng.uniform(0.1, 3.0, size=40)
    v = rng.uniform(0.5, 2.0, size=40) if weighted else np.ones(40)
    y = counts * e  # the response whose rate is `counts`
    groups = [0, 1, 0, 2, 1] if grouped else None
    kw = dict(power=power, groups=groups, tol=TIGHT, max_iter=CAP, n_lambdas=15)
    expo = HDTweedie(**kw).fit(X, y, sample_weight=v, offset=np.log(e))
    we = v * e ** (2 - power)
    rate = HDTweedie(**kw).fit(X, y / e, sample_weight=we)
    S = we.sum() / v.sum()
    np.testing.assert_allclose(expo.lambdas_, S * rate.lambdas_, rtol=1e-8)
    np.testing.assert_allclose(expo.coef_path_, rate.coef_path_, atol=1e-8, rtol=0)
    np.testing.assert_allclose(expo.intercept_path_, rate.intercept_path_, atol=1e-8, rtol=0)
    # On user lambdas: exposure at lam equals rate at lam / S.
    lam = np.array([0.2, 0.05, 0.01]) * expo.lambdas_[0]
    e2 = HDTweedie(**kw, lambdas=lam).fit(X, y, sample_weight=v, offset=np.log(e))
    r2 = HDTweedie(**kw, lambdas=lam / S).fit(X, y / e, sample_weight=we)
    np.testing.assert_allclose(e2.coef_path_, r2.coef_path_, atol=1e-8, rtol=0)
    np.testing.assert_allclose(e2.intercept_path_, r2.intercept_path_, atol=1e-8, rtol=0)


def test_poisson_exposure_counts_and_rates_predict_the_same():
    """Counts with offset log(e) and rates with weights e give the same frequency model."""
    X, counts, rng = make_problem(7, n=80, power=1.0)
    e = rng.uniform(0.2, 2.0, size=80)
    expo = HDTweedie(power=1, tol=TIGHT, max_iter=CAP).fit(X, counts, offset=np.log(e))
    rate = HDTweedie(power=1, tol=TIGHT, max_iter=CAP).fit(X, counts / e, sample_weight=e)
    # The Poisson case of the identity above: lambdas scale by sum(e) / n.
    np.testing.assert_allclose(expo.lambdas_, rate.lambdas_ * e.sum() / 80, rtol=1e-8)
    np.testing.assert_allclose(expo.predict_path(X, offset=np.log(e)),
                               rate.predict_path(X) * e[:, None], rtol=1e-7)


@settings(max_examples=40, **SETTINGS)
@given(st.integers(0, 2**32 - 1), POWERS, st.sampled_from([1e-3, 0.1, 7.0, 1e3]))
def test_scaling_y_shifts_intercept_by_log_c(seed, power, c):
    """y -> c y: the loss scales by c^(2-p) at eta + log c, so lambdas scale by c^(2-p)."""
    X, y, _ = make_problem(seed, power=power)
    kw = dict(power=power, tol=TIGHT, max_iter=CAP, n_lambdas=12)
    base = HDTweedie(**kw).fit(X, y)
    scaled = HDTweedie(**kw).fit(X, c * y)
    np.testing.assert_allclose(scaled.lambdas_, base.lambdas_ * c ** (2 - power), rtol=1e-8)
    np.testing.assert_allclose(scaled.coef_path_, base.coef_path_, atol=1e-8, rtol=0)
    np.testing.assert_allclose(scaled.intercept_path_, base.intercept_path_ + np.log(c),
                               atol=1e-8, rtol=0)


# --------------------------------------------------------------------------------------
# Columns, sparse input, weights
# --------------------------------------------------------------------------------------
@settings(max_examples=50, **SETTINGS)
@given(st.integers(0, 2**32 - 1), POWERS, st.sampled_from([1.0, 0.6]), st.booleans())
def test_permuting_columns_permutes_the_solution(seed, power, alpha, standardize):
    X, y, rng = make_problem(seed, p=6, power=power)
    groups = np.array(["a", "b", "a", "c", "c", "b"], dtype=object)
    pf = {"a": 1.0, "b": 2.0, "c": 0.5}
    perm = rng.permutation(6)
    kw = dict(power=power, alpha=alpha, penalty_factor=pf, standardize=standardize, tol=TIGHT,
              max_iter=CAP, n_lambdas=15)
    base = HDTweedie(groups=list(groups), **kw).fit(X, y)
    permuted = HDTweedie(groups=list(groups[perm]), **kw).fit(X[:, perm], y)
    np.testing.assert_allclose(permuted.lambdas_, base.lambdas_, rtol=1e-8)
    # Updates run in a different group order, so agreement is to the tolerance only.
    np.testing.assert_allclose(permuted.coef_path_, base.coef_path_[perm], atol=1e-8, rtol=0)
    np.testing.assert_allclose(permuted.intercept_path_, base.intercept_path_, atol=1e-8)


@settings(max_examples=60, **SETTINGS)
@given(st.integers(0, 2**32 - 1), POWERS, st.booleans(), st.booleans(), st.booleans(),
       st.sampled_from(["csc", "csr", "coo"]))
def test_sparse_equals_dense(seed, power, standardize, weighted, with_offset, fmt):
    X, y, rng = make_problem(seed, n=30, p=6, power=power)
    X[rng.random(X.shape) < 0.5] = 0.0
    X[0] = 1.0  # no all-zero column (constant columns cannot be standardised)
    X[1] = -1.0
    w = rng.uniform(0, 2, size=30) if weighted else None
    if w is not None:
        w[0] = 1.0
    off = rng.normal(0, 0.5, size=30) if with_offset else None
    kw = dict(power=power, groups=[0, 0, 1, 2, 1, 3], alpha=0.8, standardize=standardize,
              tol=TIGHT, max_iter=CAP, n_lambdas=15)
    dense = HDTweedie(**kw).fit(X, y, sample_weight=w, offset=off)
    Xs = {"csc": sp.csc_matrix, "csr": sp.csr_matrix, "coo": sp.coo_matrix}[fmt](X)
    sparse = HDTweedie(**kw).fit(Xs, y, sample_weight=w, offset=off)
    np.testing.assert_allclose(sparse.lambdas_, dense.lambdas_, rtol=1e-10)
    np.testing.assert_allclose(sparse.coef_path_, dense.coef_path_, atol=1e-10, rtol=0)
    np.testing.assert_allclose(sparse.intercept_path_, dense.intercept_path_, atol=1e-10)
    np.testing.assert_allclose(sparse.predict(Xs), dense.predict(X), rtol=1e-10)


@pytest.mark.parametrize("standardize", [False, True])
def test_sparse_equals_dense_default_tolerance(standardize):
    X, y, rng = make_problem(3, n=200, p=12)
    X[rng.random(X.shape) < 0.7] = 0.0
    X[0] = 1.0
    w = rng.uniform(0.5, 1.5, size=200)
    off = rng.normal(0, 0.2, size=200)
    kw = dict(groups=[j // 3 for j in range(12)], standardize=standardize)
    dense = HDTweedie(**kw).fit(X, y, sample_weight=w, offset=off)
    sparse = HDTweedie(**kw).fit(sp.csc_matrix(X), y, sample_weight=w, offset=off)
    assert dense.n_passes_ == sparse.n_passes_
    np.testing.assert_allclose(sparse.coef_path_, dense.coef_path_, atol=1e-10, rtol=0)
    np.testing.assert_allclose(sparse.intercept_path_, dense.intercept_path_, atol=1e-10)


def test_sparse_standardize_constant_column_rejected():
    """A constant column cannot be standardised, sparse or dense."""
    X, y, _ = make_problem(0, n=60, p=4)
    X[:, 1] = 1234.567  # stored explicitly in the sparse matrix
    with pytest.raises(ValueError, match="zero variance"):
        HDTweedie(standardize=True, n_lambdas=5).fit(X, y)
    with pytest.raises(ValueError, match="zero variance"):
        HDTweedie(standardize=True, n_lambdas=5).fit(sp.csc_matrix(X), y)


def test_sparse_standardize_near_constant_column_matches_dense():
    """Large mean, small spread: the scale must not suffer cancellation in the sparse path."""
    X, y, rng = make_problem(0, n=60, p=4)
    # |mean| / std ~ 1e4, inside what the sparse path accepts (1e5).
    X[:, 2] = 10.0 + 1e-3 * rng.normal(size=60)
    mean_d, scale_d = standardization(X, None)
    mean_s, scale_s = standardization(sp.csc_matrix(X), None)
    np.testing.assert_allclose(mean_s, mean_d, rtol=1e-14)
    np.testing.assert_allclose(scale_s, scale_d, rtol=1e-10)
    dense = HDTweedie(standardize=True, n_lambdas=10, tol=1e-12).fit(X, y)
    sparse = HDTweedie(standardize=True, n_lambdas=10, tol=1e-12).fit(sp.csc_matrix(X), y)
    # Compared where the penalty acts (b * scale).  The sparse kernel centres
    # implicitly, losing ~1e-16 * mean/scale = 1e-10 relative in its gradients;
    # at tol=1e-12 the two agree to ~1e-7, while a 3e-4 error in the scale
    # (the cancelling formula) moves them by >1e-5.
    np.testing.assert_allclose(sparse.coef_path_ * scale_d[:, None],
                               dense.coef_path_ * scale_d[:, None], rtol=0, atol=2e-6)
    np.testing.assert_allclose(sparse.lambdas_, dense.lambdas_, rtol=1e-8)


@pytest.mark.parametrize("seed, big, spread, tol", [
    (0, 1e4, 1e-1, 1e-12),     # |mean|/scale ~ 1e5
    (15, 1e4, 1e-2, 1e-12),    # ~ 1e6
    (7, 1e4, 1.3e-3, 1e-8),    # ~ 9.5e6, the default tol
    (7, 1e4, 1.3e-3, 1e-10),   # ~ 9.5e6
    (0, 1e8, 1e-4, 1e-8),      # ~ 1e12
])
def test_sparse_standardize_large_mean_column(seed, big, spread, tol):
    """A column whose mean dwarfs its spread: the sparse solver (implicit centring) must
    match the dense one without stalling, or refuse with an error naming the column.

    Implicit centring loses ~log10(ratio) digits in gradients and ~2 log10(ratio) in
    the majorisation constants; a stall shows as a pass count far above the dense
    fit's (the two run the same algorithm: equal counts when nothing is lost).
    """
    X, y, rng = make_problem(seed, n=60, p=4)
    X[:, 2] = big + spread * rng.normal(size=60)
    kw = dict(standardize=True, n_lambdas=20, tol=tol)
    dense = HDTweedie(**kw).fit(X, y)
    assert dense.status_ == 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # A cap on passes turns a stall into a reported stop (the default cap is 3e8).
            sparse = HDTweedie(**kw, max_iter=100_000).fit(sp.csc_matrix(X), y)
    except ValueError as exc:
        assert re.search(r"\bX\b", str(exc)) and "index 2" in str(exc), str(exc)
        return
    assert sparse.status_ == 0, f"sparse stalled: status {sparse.status_}"
    assert sparse.n_passes_ <= 10 * dense.n_passes_ + 100, (sparse.n_passes_, dense.n_passes_)
    scale = X.std(axis=0)
    np.testing.assert_allclose(sparse.coef_path_ * scale[:, None],
                               dense.coef_path_ * scale[:, None], rtol=0, atol=1e-5)


@settings(max_examples=50, **SETTINGS)
@given(st.integers(0, 2**32 - 1), POWERS, st.booleans(), st.booleans())
def test_zero_weights_equal_dropped_rows(seed, power, grouped, sparse):
    X, y, rng = make_problem(seed, n=40, p=5, power=power)
    w = rng.uniform(0.5, 2.0, size=40)
    drop = rng.random(40) < 0.3
    drop[0] = False  # keep the positive response
    w[drop] = 0.0
    off = rng.normal(0, 0.3, size=40)
    # lambda_min_ratio's default depends on the number of rows: fix it.
    kw = dict(power=power, groups=[0, 1, 0, 2, 1] if grouped else None, tol=TIGHT, max_iter=CAP,
              n_lambdas=15, lambda_min_ratio=0.01)
    conv = sp.csc_matrix if sparse else np.asarray
    full = HDTweedie(**kw).fit(conv(X), y, sample_weight=w, offset=off)
    keep = ~drop
    dropped = HDTweedie(**kw).fit(conv(X[keep]), y[keep], sample_weight=w[keep],
                                  offset=off[keep])
    assert_same_path(full, dropped)


@settings(max_examples=40, **SETTINGS)
@given(st.integers(0, 2**32 - 1), POWERS, st.sampled_from([1e-6, 0.37, 3.0, 1e8]))
def test_scaling_weights_changes_nothing(seed, power, c):
    X, y, rng = make_problem(seed, power=power)
    w = rng.uniform(0.1, 2.0, size=40)
    kw = dict(power=power, groups=[0, 1, 0, 2, 1], alpha=0.7, tol=TIGHT, max_iter=CAP, n_lambdas=15)
    a = HDTweedie(**kw).fit(X, y, sample_weight=w)
    b = HDTweedie(**kw).fit(X, y, sample_weight=c * w)
    assert_same_path(a, b, atol=1e-10)
    # Unit weights are no weights.
    u = HDTweedie(**kw).fit(X, y, sample_weight=np.full(40, c))
    n = HDTweedie(**kw).fit(X, y)
    assert_same_path(u, n, atol=1e-10)


# --------------------------------------------------------------------------------------
# Group labels
# --------------------------------------------------------------------------------------
@settings(max_examples=40, **SETTINGS)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 3), min_size=6, max_size=6))
def test_group_label_names_and_types_do_not_matter(seed, assign):
    X, y, _ = make_problem(seed, p=6)
    names = {0: "north", 1: 17, 2: ("t", 2), 3: 2.5}
    ints = HDTweedie(groups=assign, n_lambdas=12).fit(X, y)
    strs = HDTweedie(groups=[f"g{a}" for a in assign], n_lambdas=12).fit(X, y)
    labels = np.empty(6, dtype=object)  # a 1-D object array, even of tuples
    labels[:] = [names[a] for a in assign]
    mixed = HDTweedie(groups=labels, n_lambdas=12).fit(X, y)
    as_dict = {}
    for j, a in enumerate(assign):
        as_dict.setdefault(f"grp{a}", []).append(j)
    # The dict's order must not matter either: reverse it.
    dict_fit = HDTweedie(groups=dict(reversed(list(as_dict.items()))), n_lambdas=12).fit(X, y)
    for other in (strs, mixed, dict_fit):
        np.testing.assert_array_equal(other.lambdas_, ints.lambdas_)
        np.testing.assert_array_equal(other.coef_path_, ints.coef_path_)
        np.testing.assert_array_equal(other.intercept_path_, ints.intercept_path_)
        np.testing.assert_array_equal(other.group_index_, ints.group_index_)
    assert strs.group_labels_ == [f"g{a}" for a in dict.fromkeys(assign)]
    assert mixed.group_labels_ == [names[a] for a in dict.fromkeys(assign)]


def test_dataframe_dict_groups_and_penalty_factor_by_name():
    pd = pytest.importorskip("pandas")
    X, y, _ = make_problem(4, p=6)
    cols = ["age", "power", "area_a", "area_b", "fuel", "density"]
    df = pd.DataFrame(X, columns=cols)
    groups = {"area": ["area_a", "area_b"], "age": ["age"], "veh": ["power", "fuel"],
              "density": ["density"]}
    pf = {"area": 0.5, "veh": 3.0}
    by_name = HDTweedie(groups=groups, penalty_factor=pf, alpha=0.9, n_lambdas=12).fit(df, y)
    # Same problem by position: labels per column and penalty factors in first-appearance order.
    labels = ["age", "veh", "area", "area", "veh", "density"]
    by_pos = HDTweedie(groups=labels, penalty_factor=[1.0, 3.0, 0.5, 1.0], alpha=0.9,
                       n_lambdas=12).fit(X, y)
    assert by_name.group_labels_ == ["age", "veh", "area", "density"]
    np.testing.assert_array_equal(by_name.penalty_factor_, [1.0, 3.0, 0.5, 1.0])
    np.testing.assert_array_equal(by_name.coef_path_, by_pos.coef_path_)
    np.testing.assert_array_equal(by_name.lambdas_, by_pos.lambdas_)
    # Mixing column names and integer positions in the dict.
    mixed = HDTweedie(groups={"area": [2, "area_b"], "age": [0], "veh": ["power", 4],
                              "density": [-1]},
                      penalty_factor=pf, alpha=0.9, n_lambdas=12).fit(df, y)
    np.testing.assert_array_equal(mixed.coef_path_, by_pos.coef_path_)
    # Default penalty factor for groups missing from the dict: sqrt(size).
    partial = HDTweedie(groups=groups, penalty_factor={"area": 0.5}, n_lambdas=5).fit(df, y)
    np.testing.assert_allclose(partial.penalty_factor_, [1.0, np.sqrt(2), 0.5, 1.0])


# --------------------------------------------------------------------------------------
# Degenerate responses
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("power", [1.0, 1.5])
def test_all_zero_y_names_y(power):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match=r"\by\b"):
        HDTweedie(power=power).fit(X, np.zeros(20))
    # Positive y only where the weight is zero is the same thing.
    y = np.zeros(20)
    y[:3] = 2.0
    w = np.ones(20)
    w[:3] = 0.0
    with pytest.raises(ValueError, match=r"\by\b"):
        HDTweedie(power=power).fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match=r"\by\b"):
        HDTweedieCV(power=power, n_folds=3).fit(X, np.zeros(20))


def test_cv_fold_with_all_zero_training_y_is_nan_with_warning():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    fold_ids = np.repeat([0, 1, 2], 10)
    y = np.zeros(30)
    y[:10] = rng.gamma(2.0, 1.0, size=10)  # positive only in fold 0
    # Fold 0's training rows (folds 1 and 2) are all zero: it cannot be fitted.
    with pytest.warns(FoldFitWarning, match="fold 1 of 3"):
        cv = HDTweedieCV(fold_ids=fold_ids, n_lambdas=10).fit(X, y)
    assert np.all(np.isnan(cv.fold_losses_[0]))
    assert np.all(np.isfinite(cv.fold_losses_[1:]))
    assert np.all(np.isfinite(cv.cv_mean_))
    assert cv.lambda_min_ in cv.lambdas_ and cv.lambda_1se_ in cv.lambdas_
    assert np.all(np.isfinite(cv.coef_))
    assert np.all(np.isfinite(cv.predict(X)))
    # Only that fold warned.
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        HDTweedieCV(fold_ids=fold_ids, n_lambdas=10).fit(X, y)
    assert sum(issubclass(r.category, FoldFitWarning) for r in rec) == 1
