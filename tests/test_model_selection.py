"""Pipelines and scikit-learn model selection: factor groups, offsets, warnings."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline

import hdtweedie
from hdtweedie import FactorEncoder, HDTweedie, HDTweedieCV, OffsetWarning


def portfolio(n=400, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"area": rng.choice(list("abcd"), n), "age": rng.normal(size=n),
                       "veh": rng.choice(["x", "y", "z"], n)})
    exposure = rng.uniform(0.1, 1.0, size=n)
    mu = exposure * np.exp(0.4 * (df["area"] == "a") - 0.3 * df["age"])
    y = rng.poisson(mu) * rng.gamma(2.0, 0.5, size=n)
    return df, y, np.log(exposure)


def test_factor_groups_from_the_encoders_pandas_output():
    df, y, _ = portfolio()
    enc = FactorEncoder().set_output(transform="pandas")
    pipe = make_pipeline(enc, HDTweedieCV(groups="factor", n_lambdas=8, n_folds=3,
                                          random_state=0)).fit(df, y)
    model = pipe[-1]
    assert model.group_labels_ == ["area", "age", "veh"]
    np.testing.assert_array_equal(model.group_labels_, list(dict.fromkeys(enc.groups_)))
    explicit = HDTweedieCV(groups=list(enc.groups_), n_lambdas=8, n_folds=3,
                           random_state=0).fit(enc.transform(df), y)
    np.testing.assert_array_equal(model.coef_path_, explicit.coef_path_)


def test_factor_groups_need_feature_names():
    df, y, _ = portfolio()
    X = FactorEncoder().fit(df).transform(df)
    for Xin in (np.asarray(X), sp.csc_matrix(np.asarray(X, dtype=float))):
        with pytest.raises(ValueError, match=r"groups='factor'.*encoder\.groups_.*"
                                             r"set_output\(transform='pandas'\)"):
            HDTweedie(groups="factor", n_lambdas=5).fit(Xin, y)


def test_numeric_columns_are_their_own_group():
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 4)),
                     columns=["f=a", "f=b", "age", "bonus"])
    y = np.random.default_rng(1).gamma(1.0, 1.0, size=50)
    m = HDTweedie(groups="factor", n_lambdas=5).fit(X, y)
    assert m.group_labels_ == ["f", "age", "bonus"]
    np.testing.assert_array_equal(m.group_index_, [0, 0, 1, 2])


def test_ungrouped_one_hot_names_warn():
    df, y, _ = portfolio()
    pipe = make_pipeline(FactorEncoder().set_output(transform="pandas"), HDTweedie(n_lambdas=5))
    with pytest.warns(UserWarning, match="groups='factor'"):
        pipe.fit(df, y)
    X = pipe[0].transform(df)
    with pytest.warns(UserWarning, match="groups='factor'") as record:
        HDTweedie(n_lambdas=5).fit(X, y)
    assert record[0].filename == __file__
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)), columns=["a", "b=1", "c"])
    assert HDTweedie(groups="factor", n_lambdas=5).fit(X, np.ones(50) + X["a"] ** 2).group_labels_ == [
        "a", "b", "c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HDTweedie(n_lambdas=5).fit(X, np.random.default_rng(1).gamma(1.0, 1.0, size=50))


def test_offset_reaches_score_under_metadata_routing():
    df, y, off = portfolio()
    X = FactorEncoder().set_output(transform="pandas").fit_transform(df)
    folds = KFold(3, shuffle=True, random_state=0)
    grid = {"alpha": [0.5, 1.0]}
    with sklearn.config_context(enable_metadata_routing=True):
        with warnings.catch_warnings():
            warnings.simplefilter("error", OffsetWarning)
            search = GridSearchCV(HDTweedie(groups="factor", n_lambdas=10), grid, cv=folds)
            search.fit(X, y, offset=off)
    expect = []
    for train, test in folds.split(X):
        m = HDTweedie(groups="factor", n_lambdas=10, alpha=search.best_params_["alpha"])
        m.fit(X.iloc[train], y[train], offset=off[train])
        expect.append(m.score(X.iloc[test], y[test], offset=off[test]))
    assert search.best_score_ == pytest.approx(np.mean(expect), rel=1e-12)


def test_scoring_without_the_fitted_offset_warns():
    df, y, off = portfolio()
    X = FactorEncoder().set_output(transform="pandas").fit_transform(df)
    with pytest.warns(OffsetWarning, match="fitted with an offset"):
        cross_val_score(HDTweedie(groups="factor", n_lambdas=10), X, y, cv=3,
                        params={"offset": off})
    m = HDTweedie(groups="factor", n_lambdas=10).fit(X, y, offset=off)
    for use in (lambda: m.predict(X), lambda: m.predict_path(X), lambda: m.score(X, y)):
        with pytest.warns(OffsetWarning) as record:
            use()
        assert record[0].filename == __file__  # the warning points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error", OffsetWarning)
        m.predict(X, offset=0.0)
        HDTweedie(groups="factor", n_lambdas=10).fit(X, y).predict(X)
        HDTweedie(groups="factor", n_lambdas=10).fit(X, y, offset=np.zeros(len(y))).predict(X)


def test_offset_warning_and_convergence_warning_are_exported_and_classified():
    from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

    from hdtweedie._path import ConvergenceWarning

    assert hdtweedie.ConvergenceWarning is ConvergenceWarning
    assert issubclass(ConvergenceWarning, SkConvergenceWarning)
    assert issubclass(OffsetWarning, UserWarning)
    assert "OffsetWarning" in hdtweedie.__all__


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_cv_progress_counts_every_job(n_jobs):
    df, y, off = portfolio()
    X = FactorEncoder().fit(df).transform(df)
    calls = []
    HDTweedieCV(n_lambdas=8, n_folds=4, n_jobs=n_jobs, random_state=0).fit(
        X, y, offset=off, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]


def test_cv_progress_grows_when_folds_are_refitted():
    df, y, _ = portfolio()
    X = FactorEncoder().fit(df).transform(df)
    passes = HDTweedie().fit(X, y).n_passes_
    calls = []
    with pytest.warns(hdtweedie.ConvergenceWarning):
        HDTweedieCV(max_iter=passes // 2, n_folds=3, n_jobs=2, random_state=0).fit(
            X, y, progress=lambda done, total: calls.append((done, total)))
    assert [d for d, _ in calls] == list(range(1, 8))
    assert calls[-1] == (7, 7) and all(t in (4, 7) for _, t in calls)


def test_cv_progress_with_user_lambdas_and_bad_callbacks():
    df, y, _ = portfolio()
    X = FactorEncoder().fit(df).transform(df)
    calls = []
    HDTweedieCV(lambdas=[0.1, 0.01], n_folds=3).fit(X, y, progress=lambda *a: calls.append(a))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(TypeError, match="progress must be"):
        HDTweedieCV(n_folds=3).fit(X, y, progress=5)


def test_training_data_record():
    df, y, off = portfolio()
    X = FactorEncoder().fit(df).transform(df)
    w = np.random.default_rng(3).uniform(0.5, 1.5, size=len(y))
    m = HDTweedie(n_lambdas=5).fit(X, y, sample_weight=w, offset=off)
    rec = m.training_data_
    assert rec["n_rows"] == len(y) and isinstance(rec["n_rows"], int)
    assert rec["weight_sum"] == pytest.approx(w.sum(), rel=1e-14)
    assert rec["exposure_sum"] == pytest.approx(np.exp(off).sum(), rel=1e-14)
    assert rec["fingerprint"].startswith("sha256:") and len(rec["fingerprint"]) == 71
    cv = HDTweedieCV(n_lambdas=5, n_folds=3, random_state=0).fit(X, y, sample_weight=w, offset=off)
    assert cv.training_data_ == rec and cv.path_.training_data_ == rec
    plain = HDTweedie(n_lambdas=5).fit(X, y).training_data_
    assert plain["exposure_sum"] is None and plain["weight_sum"] == len(y)
    # The fingerprint follows the data: any change of X, y, weights or offset moves it.
    X2 = np.array(X, dtype=float)
    X2[0, 0] += 1e-12
    for args in ((X2, y, w, off), (X, y * 1.0000001, w, off), (X, y, w * 2, off), (X, y, w, off + 1)):
        fit = HDTweedie(n_lambdas=5).fit(args[0], args[1], sample_weight=args[2], offset=args[3])
        assert fit.training_data_["fingerprint"] != rec["fingerprint"]
    again = HDTweedie(n_lambdas=5).fit(np.array(X), y.copy(), sample_weight=w.copy(), offset=off)
    assert again.training_data_["fingerprint"] == rec["fingerprint"]
    sparse = HDTweedie(n_lambdas=5).fit(sp.csr_matrix(np.asarray(X, dtype=float)), y,
                                        sample_weight=w, offset=off)
    sparse2 = HDTweedie(n_lambdas=5).fit(sp.csc_matrix(np.asarray(X, dtype=float)), y,
                                         sample_weight=w, offset=off)
    assert sparse.training_data_["fingerprint"] == sparse2.training_data_["fingerprint"]
