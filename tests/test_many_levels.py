"""A rating factor with thousands of levels: its group set-up is exact and linear in its size."""

import time

import numpy as np
import pytest
import scipy.sparse as sp

from hdtweedie import HDTweedie
from hdtweedie._groups import disjoint_support, make_groups, resolve_penalty_factor


def _names(levels: int) -> np.ndarray:
    return np.array([f"f=l{i}" for i in range(levels)] + ["age", "g=a", "g=b"], dtype=object)


def _old_owner(groups: dict, names) -> list:
    """Each column's group by a search of every name per member (the quadratic reference)."""
    owner = [None] * len(names)
    for label, members in groups.items():
        for col in members:
            owner[int(np.flatnonzero(np.asarray(names, dtype=object) == col)[0])] = label
    return owner


def test_mapping_groups_by_name_match_a_search_of_the_names():
    names = _names(30)
    rng = np.random.default_rng(0)
    members = list(rng.permutation([n for n in names if n.startswith("f=")]))
    groups = {"f": members, "age": ["age"], "g": ["g=b", 31]}  # names and an index
    gs = make_groups(groups, names.size, names)
    owner = _old_owner({"f": members, "age": ["age"], "g": ["g=b", "g=a"]}, names)
    assert [gs.labels[i] for i in gs.index] == owner


def test_group_setup_of_a_factor_with_many_levels_is_linear():
    """Mapping groups and penalty factors looked up every name in a list (2,000 levels:
    0.2 s, 8,000: 2.7 s); both are one dictionary lookup per member now."""
    def setup_seconds(levels):
        names = _names(levels)
        groups = {"f": list(names[:levels]), "age": ["age"], "g": ["g=a", "g=b"]}
        single = {f"c{j}": [j] for j in range(names.size)}
        t0 = time.perf_counter()
        gs = make_groups(groups, names.size, names)
        resolve_penalty_factor({"f": 2.0, "g": 1.0}, gs)
        each = make_groups(single, names.size, names)
        resolve_penalty_factor({f"c{j}": 1.0 for j in range(names.size)}, each)
        return time.perf_counter() - t0, gs

    small, _ = setup_seconds(2_000)
    big, gs = setup_seconds(16_000)
    assert gs.sizes.tolist() == [16_000, 1, 2]
    assert big < 1.0 and big < 16 * max(small, 1e-2), (small, big)


def test_a_factor_with_many_levels_fits_as_one_group():
    rng = np.random.default_rng(1)
    levels, n = 300, 6_000
    codes = rng.integers(0, levels, n)
    X = sp.csc_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, levels))
    y = rng.gamma(1.0, np.exp(rng.normal(0, 0.3, levels)[codes])) * (rng.random(n) < 0.4)
    fit = HDTweedie(groups={"f": range(levels)}, n_lambdas=5).fit(X, y)
    assert fit.group_labels_ == ["f"]
    nonzero = fit.coef_path_ != 0
    # One group: its columns enter together.
    assert np.all(nonzero.all(axis=0) | ~nonzero.any(axis=0))


@pytest.mark.parametrize("bad", [{"f": ["f=nope"]}, {"f": [["f=l0"]]}])
def test_unknown_or_unhashable_member_names_the_column(bad):
    names = _names(5)
    with pytest.raises(ValueError, match="groups: unknown column"):
        make_groups(bad, names.size, names)


@pytest.mark.parametrize("sparse", [False, True])
def test_one_hot_groups_have_a_diagonal_majorisation_matrix(sparse):
    """For a group flagged as disjoint, the largest eigenvalue of X_g' diag(h) X_g (the
    k x k eigenvalue problem, cubic in the levels) is the largest weighted column sum of
    squares, linear in them."""
    rng = np.random.default_rng(2)
    n, levels = 400, 12
    codes = rng.integers(0, levels + 1, n)  # level 0 is the base: no column
    onehot = np.zeros((n, levels))
    onehot[codes > 0, codes[codes > 0] - 1] = rng.uniform(0.5, 2.0, np.count_nonzero(codes))
    X = np.column_stack([onehot, rng.normal(size=(n, 2))])
    gs = make_groups(["f"] * levels + ["x", "x"], X.shape[1])
    flags = disjoint_support(sp.csc_matrix(X) if sparse else X, gs)
    assert flags.tolist() == [True, False]
    h = rng.uniform(0.1, 3.0, n)
    for g in np.flatnonzero(flags):
        Xg = X[:, gs.cols[gs.ptr[g]:gs.ptr[g + 1]]]
        old = np.linalg.eigvalsh(Xg.T @ (h[:, None] * Xg)).max()
        assert (h @ Xg**2).max() == pytest.approx(old, rel=1e-13)


def test_disjoint_support_is_linear_in_the_levels():
    rng = np.random.default_rng(3)
    n = 50_000

    def seconds(levels):
        codes = rng.integers(0, levels, n)
        X = sp.csc_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, levels))
        gs = make_groups([0] * levels, levels)
        t0 = time.perf_counter()
        assert disjoint_support(X, gs).tolist() == [True]
        return time.perf_counter() - t0

    small, big = seconds(200), seconds(2_000)
    assert big < 1.0 and big < 20 * max(small, 1e-2), (small, big)


def _factor_problem(seed=4, n=3_000, levels=40):
    """Two one-hot factors (one with non-unit values), and a group of overlapping columns."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, levels + 1, n)  # code 0 is the base level: no column
    b = rng.integers(0, 6, n)
    fa = np.zeros((n, levels))
    fa[a > 0, a[a > 0] - 1] = 1.0
    fb = np.zeros((n, 5))
    fb[b > 0, b[b > 0] - 1] = rng.uniform(0.5, 2.0, np.count_nonzero(b))
    z = rng.normal(size=(n, 3))
    X = np.column_stack([fa, fb, z])
    eta = 0.4 * fa @ rng.normal(size=levels) + 0.3 * fb.sum(axis=1) + 0.2 * z[:, 0]
    y = rng.gamma(1.0, np.exp(eta)) * (rng.random(n) < 0.4)
    groups = ["a"] * levels + ["b"] * 5 + ["z"] * 3
    return X, y, rng.uniform(0.2, 1.0, n), groups


@pytest.mark.parametrize("sparse", [False, True])
def test_one_hot_groups_take_the_diagonal_path_with_the_same_iterates(sparse, monkeypatch):
    """The largest diagonal entry of a one-hot group's majorisation matrix replaces its
    eigenvalue problem: the path is the one with the flag forced off."""
    from hdtweedie import _path

    X, y, w, groups = _factor_problem()
    Xf = sp.csc_matrix(X) if sparse else X
    fit = HDTweedie(groups=groups, n_lambdas=30, tol=1e-12).fit(Xf, y, w)
    gs = make_groups(groups, X.shape[1])
    assert disjoint_support(Xf, gs).tolist() == [True, True, False]
    monkeypatch.setattr(_path, "disjoint_support",
                        lambda X, gs: np.zeros(gs.sizes.size, dtype=bool))
    general = HDTweedie(groups=groups, n_lambdas=30, tol=1e-12).fit(Xf, y, w)
    assert fit.n_passes_ == general.n_passes_
    np.testing.assert_allclose(fit.lambdas_, general.lambdas_, rtol=1e-12)
    np.testing.assert_allclose(fit.intercept_path_, general.intercept_path_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit.coef_path_, general.coef_path_, rtol=0, atol=1e-12)
    assert np.count_nonzero(fit.coef_path_[:45, -1]) == 45  # the factors entered


@pytest.mark.parametrize("sparse", [False, True])
def test_centred_columns_ignore_the_flag(sparse):
    """Centring makes one-hot columns overlap: a flagged group then keeps the eigenvalue
    problem, so flagging every group changes nothing."""
    from hdtweedie import _cd

    X, y, w, groups = _factor_problem(levels=8)
    gs = make_groups(groups, X.shape[1])
    xm, xs = X.mean(axis=0), X.std(axis=0)
    wn = w / w.sum()

    def path(disjoint):
        problem = _cd.Problem(y, wn, np.zeros_like(y), 1.5, gs.cols, gs.ptr,
                              np.ones(gs.sizes.size), 1.0, disjoint=disjoint)
        options = _cd.Options(10, 0.05, None, 100, 100, 1e-10, 10**7)
        if sparse:
            Xs = sp.csc_matrix(X)
            return _cd.solve_path_sparse(Xs.data, Xs.indices, Xs.indptr, xm, xs, X.shape[0],
                                         problem, options)
        return _cd.solve_path_dense(np.asfortranarray(X), problem, options, xm, xs)

    forced, plain = path(np.ones(gs.sizes.size, dtype=bool)), path(None)
    assert forced.n_passes == plain.n_passes
    np.testing.assert_array_equal(forced.coefs, plain.coefs)


def test_disjoint_flags_need_one_per_group():
    from hdtweedie import _cd

    with pytest.raises(ValueError, match=r"disjoint must have one entry per group \(2\)"):
        _cd.Problem(np.ones(3), np.ones(3) / 3, np.zeros(3), 1.5, np.arange(3), [0, 1, 3],
                    np.ones(2), 1.0, disjoint=[True])


@pytest.mark.parametrize("p", [1, 2, 7, 5000])
def test_ungrouped_structure_is_that_of_one_label_per_column(p):
    # groups=None builds its structure directly: the same arrays, dtypes included, as
    # the general path gives for the labels 0..p-1.
    fast, general = make_groups(None, p), make_groups(list(range(p)), p)
    assert fast.labels == general.labels
    for name in ("index", "cols", "ptr"):
        a, b = getattr(fast, name), getattr(general, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
