"""The dispersion in model files, and the scorer's distribution verbs (intervals, P(Y=0), simulation)."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from hdtweedie import HDTweedie, HDTweedieCV, tweedie
from hdtweedie.scoring import ModelFileError, load_model

POWER, PHI = 1.4, 1.5
FIXTURE = Path(__file__).parent / "fixtures" / "model_schema_1_0.json"


def simulate(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    exposure = rng.uniform(0.2, 2.0, n)
    mu = exposure * np.exp(0.3 + 0.5 * X[:, 0] - 0.4 * X[:, 1])
    return X, exposure, tweedie.rvs(mu, PHI, POWER, random_state=seed + 1), mu


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    X, e, y, _ = simulate(4000, 0)
    cv = HDTweedieCV(power=POWER, n_lambdas=20, random_state=0).fit(X, y, offset=np.log(e))
    path = tmp_path_factory.mktemp("models") / "cv.json"
    doc = cv.export(path, X=X)
    return cv, load_model(path), doc


def test_the_file_records_the_dispersion(fitted):
    cv, model, doc = fitted
    assert doc["schema_version"] == "1.2" and doc["dispersion"] == cv.dispersion_
    assert model.dispersion == cv.dispersion_
    assert abs(cv.dispersion_ - PHI) < 0.1


def test_files_without_new_fields_keep_the_old_version(tmp_path):
    X, e, y, _ = simulate(300, 1)
    model = HDTweedie(power=POWER, n_lambdas=5).fit(X, y)
    doc = model.export(tmp_path / "m.json", X=X)
    assert "dispersion" not in doc and doc["schema_version"] == "1.1"
    assert load_model(tmp_path / "m.json").dispersion is None


def test_path_model_dispersion_from_the_training_data(tmp_path):
    from hdtweedie._export import export_model

    X, e, y, _ = simulate(500, 2)
    model = HDTweedie(power=POWER, n_lambdas=8).fit(X, y, offset=np.log(e))
    lam = model.lambdas_[4]
    doc = export_model(model, tmp_path / "m.json", s=lam, X=X, y=y, offset=np.log(e))
    mu = model.predict(X, s=lam, offset=np.log(e))
    assert doc["dispersion"] == pytest.approx(tweedie.dispersion_mle(y, mu, POWER), rel=1e-9)
    with pytest.raises(ValueError, match="without X"):
        export_model(model, tmp_path / "n.json", X=None, y=y)
    with pytest.raises(ValueError, match="only with y"):
        export_model(model, tmp_path / "n.json", X=X, offset=np.log(e))


def test_cv_at_another_lambda_needs_the_data(tmp_path, fitted):
    cv, _, _ = fitted
    other = "lambda_min" if cv.select == "lambda_1se" else "lambda_1se"
    if cv.lambda_min_ == cv.lambda_1se_:
        pytest.skip("both rules chose the same lambda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = cv.export(tmp_path / "other.json", s=other)
    assert "dispersion" not in doc


def test_power_grid_export_records_the_chosen_power(tmp_path):
    X, e, y, _ = simulate(600, 3)
    cv = HDTweedieCV(power=[1.2, 1.4, 1.7], n_lambdas=6, random_state=0).fit(X, y, offset=np.log(e))
    doc = cv.export(tmp_path / "g.json", X=X)
    assert doc["power"] == cv.power_ and doc["dispersion"] == cv.dispersion_


@pytest.mark.filterwarnings("ignore:.*outside the training range")
def test_interval_coverage_on_new_data(fitted):
    """Fresh outcomes of the true law fall in the intervals as often as the fitted law says."""
    _, model, _ = fitted
    X, e, y, _ = simulate(4000, 7)  # a numeric design matrix is a valid set of records
    iv = model.predict_interval(X, exposure=e, level=0.9)
    assert np.all(iv.lower <= iv.upper) and iv.level == 0.9
    inside = (y >= iv.lower) & (y <= iv.upper)
    # coverage under the fitted law: F(upper) - F(lower-); the mass at zero counts when lower = 0
    f_low = np.where(iv.lower > 0, tweedie.cdf(iv.lower, iv.mean, iv.dispersion, POWER), 0.0)
    expected = tweedie.cdf(iv.upper, iv.mean, iv.dispersion, POWER) - f_low
    assert np.all(expected >= 0.9 - 1e-9)
    assert abs(inside.mean() - expected.mean()) < 0.025  # 4.5 standard errors
    np.testing.assert_array_equal(iv.mean, np.asarray(model.predict(X, exposure=e)))


def test_interval_bounds_are_the_quantiles(fitted):
    _, model, _ = fitted
    X = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 0.5]])
    iv = model.predict_interval(X, exposure=[1.0, 3.0], level=0.8, weight=[1.0, 2.0])
    phi = model.dispersion / np.array([1.0, 2.0])
    np.testing.assert_array_equal(iv.dispersion, phi)
    np.testing.assert_array_equal(iv.lower, tweedie.ppf(0.1, iv.mean, phi, POWER))
    np.testing.assert_array_equal(iv.upper, tweedie.ppf(0.9, iv.mean, phi, POWER))
    zero = model.predict_interval(X, exposure=0.0)
    assert np.all(zero.lower == 0) and np.all(zero.upper == 0)


def test_prob_zero_is_exp_minus_lambda(fitted):
    _, model, _ = fitted
    X = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 0.5], [-2.0, 1.0, 0.0]])
    e = np.array([0.5, 1.0, 2.0])
    w = np.array([1.0, 3.0, 0.5])
    mu = np.asarray(model.predict(X, exposure=e))
    lam = mu ** (2 - POWER) / (model.dispersion / w * (2 - POWER))
    np.testing.assert_allclose(model.prob_zero(X, exposure=e, weight=w), np.exp(-lam), rtol=1e-12)
    assert model.prob_zero(X[:1], exposure=0.0)[0] == 1.0


def test_sample_moments(fitted):
    _, model, _ = fitted
    X = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 0.5]])
    n = 200_000
    draws = model.sample(X, n, exposure=[1.0, 2.0], random_state=5)
    assert draws.shape == (2, n)
    mu = np.asarray(model.predict(X, exposure=[1.0, 2.0]))
    var = model.dispersion * mu ** POWER
    assert np.all(np.abs(draws.mean(axis=1) - mu) < 4 * np.sqrt(var / n))
    assert np.all(np.abs(draws.var(axis=1) / var - 1) < 0.03)
    p0 = model.prob_zero(X, exposure=[1.0, 2.0])
    assert np.all(np.abs((draws == 0).mean(axis=1) - p0) < 4 * np.sqrt(p0 * (1 - p0) / n))
    np.testing.assert_array_equal(model.sample(X, 10, random_state=1), model.sample(X, 10, random_state=1))


def test_a_file_without_dispersion_refuses_the_verbs():
    model = load_model(FIXTURE)
    assert model.dispersion is None
    record = {"area": "C", "district": "01", "ncd": 2, "age": 40.0}
    for verb in (lambda: model.predict_interval(record), lambda: model.prob_zero(record),
                 lambda: model.sample(record, 3)):
        with pytest.raises(ModelFileError, match="records no dispersion"):
            verb()


@pytest.mark.parametrize("kwargs, exc, fragment", [
    ({"level": 1.0}, ValueError, "level"), ({"level": 0}, ValueError, "level"),
    ({"level": True}, TypeError, "level"), ({"level": "0.9"}, TypeError, "level"),
    ({"weight": 0.0}, ValueError, "weight"), ({"weight": [1.0, 2.0, 3.0]}, ValueError, "weight"),
    ({"weight": float("nan")}, ValueError, "weight"), ({"weight": "w"}, TypeError, "weight"),
])
def test_bad_interval_arguments(fitted, kwargs, exc, fragment):
    _, model, _ = fitted
    with pytest.raises(exc, match=fragment):
        model.predict_interval(np.zeros((2, 3)), **kwargs)


@pytest.mark.parametrize("n, exc", [(0, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_sample_size(fitted, n, exc):
    _, model, _ = fitted
    with pytest.raises(exc, match="n must"):
        model.sample(np.zeros((1, 3)), n)


def test_the_dispersion_is_checked_in_the_file(tmp_path, fitted):
    from hdtweedie.scoring import content_hash

    _, _, doc = fitted
    for bad in (0.0, -1.0, "1"):
        edited = dict(doc, dispersion=bad)
        edited["sha256"] = content_hash(edited)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(edited))
        with pytest.raises(ModelFileError, match="dispersion"):
            load_model(path)


def test_the_verbs_need_no_scipy_or_sklearn(fitted, tmp_path):
    _, model, doc = fitted
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    script = ("import sys, numpy as np\n"
              "from hdtweedie.scoring import load_model\n"
              f"m = load_model({str(path)!r})\n"
              "X = np.zeros((2, 3))\n"
              "m.predict_interval(X); m.prob_zero(X); m.sample(X, 5, random_state=0)\n"
              "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sklearn', 'scipy', 'pandas')))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_glm_export_with_data_records_its_dispersion(tmp_path):
    from hdtweedie import TweedieGLM
    from hdtweedie._export import export_model

    X, e, y, _ = simulate(800, 4)
    glm = TweedieGLM(power=POWER).fit(X, y, offset=np.log(e))
    doc = export_model(glm, tmp_path / "glm.json", X=X, y=y, offset=np.log(e))
    mu = glm.predict(X, offset=np.log(e))
    assert doc["dispersion"] == pytest.approx(tweedie.dispersion_mle(y, mu, POWER), rel=1e-9)
