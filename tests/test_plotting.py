"""Plots render to PNG with the Agg backend and draw what the models hold."""

import sys

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from hdtweedie import FactorEncoder, HDTweedie, HDTweedieCV  # noqa: E402
from hdtweedie.datasets import (  # noqa: E402
    NOISE_FACTORS,
    RATING_FACTORS,
    make_motor_portfolio,
    true_relativities,
)
from hdtweedie.plotting import (  # noqa: E402
    base_levels,
    plot_cv,
    plot_path,
    plot_relativities,
    relativity_table,
)
from hdtweedie.scoring import load_model  # noqa: E402

FACTORS = list(RATING_FACTORS) + list(NOISE_FACTORS)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fitted():
    df = make_motor_portfolio(n=4000, random_state=2)
    enc = FactorEncoder(factors=FACTORS)
    X = enc.fit_transform(df[FACTORS], sample_weight=df["exposure"].to_numpy())
    y = np.array(df["incurred"], dtype=float)
    offset = np.log(np.array(df["exposure"], dtype=float))
    cv = HDTweedieCV(power=1.5, groups=enc.groups_, n_folds=3, n_lambdas=30,
                     random_state=0).fit(X, y, offset=offset)
    return df, enc, X, y, offset, cv


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _check_png(path, min_width=300):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert width >= min_width and height >= 200
    # Something was drawn: not a blank canvas.
    assert np.ptp(image[..., :3]) > 0.5
    return image


def test_plot_path_coefficients(fitted, tmp_path):
    *_, cv = fitted
    ax = plot_path(cv.path_)
    coef_lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == cv.lambdas_.size]
    assert len(coef_lines) == cv.coef_path_.shape[0]
    # Lines are the coefficient paths against log lambda.
    np.testing.assert_allclose(coef_lines[0].get_xdata(), np.log(cv.lambdas_))
    ys = np.sort([ln.get_ydata() for ln in coef_lines], axis=0)
    np.testing.assert_allclose(ys, np.sort(cv.coef_path_, axis=0))
    assert ax.get_xlabel() == "Log lambda"
    assert ax.get_ylabel() == "Coefficients"
    out = tmp_path / "path.png"
    ax.figure.savefig(out)
    _check_png(out)


def test_plot_path_group_norm_marks_selected_lambda(fitted, tmp_path):
    *_, cv = fitted
    ax = plot_path(cv, group_norm=True)
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == cv.lambdas_.size]
    assert len(lines) == len(cv.group_labels_)
    by_label = {ln.get_label(): ln for ln in lines}
    for g, label in enumerate(cv.group_labels_):
        expected = np.linalg.norm(cv.coef_path_[cv.group_index_ == g], axis=0)
        np.testing.assert_allclose(by_label[str(label)].get_ydata(), expected)
    vertical = [ln for ln in ax.get_lines() if ln.get_label().startswith("selected")]
    assert len(vertical) == 1
    assert vertical[0].get_xdata()[0] == pytest.approx(np.log(cv.lambda_))
    assert ax.get_legend() is not None
    out = tmp_path / "path_groups.png"
    ax.figure.savefig(out)
    _check_png(out)


def test_plot_path_with_explicit_s_on_own_axes(fitted):
    *_, cv = fitted
    fig, ax = plt.subplots()
    s = float(cv.lambdas_[5])
    assert plot_path(cv.path_, s=s, ax=ax, legend=False) is ax
    marks = [ln for ln in ax.get_lines() if ln.get_label().startswith("selected")]
    assert marks[0].get_xdata()[0] == pytest.approx(np.log(s))
    assert ax.get_legend() is None


def test_plot_cv_curve(fitted, tmp_path):
    *_, cv = fitted
    ax = plot_cv(cv)
    # The error-bar points are the CV means at each log lambda.
    points = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert len(points) == 1
    ok = np.isfinite(cv.cv_mean_)
    np.testing.assert_allclose(points[0].get_xdata(), np.log(cv.lambdas_[ok]))
    np.testing.assert_allclose(points[0].get_ydata(), cv.cv_mean_[ok])
    labels = {ln.get_label(): ln for ln in ax.get_lines()}
    assert labels["lambda_min"].get_xdata()[0] == pytest.approx(np.log(cv.lambda_min_))
    assert labels["lambda_1se"].get_xdata()[0] == pytest.approx(np.log(cv.lambda_1se_))
    assert ax.get_ylabel() == "Tweedie deviance"
    # The bars span cv_lower_ .. cv_upper_.
    bars = [c for c in ax.collections if c.get_segments()]
    segs = np.array([[s[0][1], s[1][1]] for s in bars[0].get_segments()])
    np.testing.assert_allclose(np.sort(segs, axis=1),
                               np.column_stack([cv.cv_lower_[ok], cv.cv_upper_[ok]]))
    out = tmp_path / "cv.png"
    ax.figure.savefig(out)
    _check_png(out)


def test_plot_relativities_from_loaded_model(fitted, tmp_path):
    df, enc, *_, cv = fitted
    path = tmp_path / "model.json"
    cv.export(path, model_id="plots", version="1", encoder=enc)
    model = load_model(path)
    truth = true_relativities()
    fig = plot_relativities(model, true=truth)
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in axes] == FACTORS
    table = model.factor_table(include_base=False)
    bases = base_levels(model)
    for ax in axes:
        factor = ax.get_title()
        rows = [r for r in table if r["Factor"] == factor]
        heights = [p.get_height() for p in ax.patches]
        np.testing.assert_allclose(heights, [r["Relativity"] for r in rows])
        assert [t.get_text() for t in ax.get_xticklabels()] == [r["Level"] for r in rows]
        # True markers, rescaled to the fitted base level.
        true_rel = dict(zip(truth.loc[truth.Factor == factor, "Level"],
                            truth.loc[truth.Factor == factor, "Relativity"]))
        marker = [ln for ln in ax.get_lines() if ln.get_label() == "true"][0]
        expected = [true_rel[r["Level"]] / true_rel[bases[factor]] for r in rows]
        np.testing.assert_allclose(marker.get_ydata(), expected)
    out = tmp_path / "relativities.png"
    fig.savefig(out)
    _check_png(out, min_width=600)
    # A model file path works too.
    fig2 = plot_relativities(str(path), factors=["driver_age"])
    assert [a.get_title() for a in fig2.axes if a.get_visible()] == ["driver_age"]


def test_relativities_from_estimator_and_encoder(fitted):
    _, enc, *_, cv = fitted
    rows = relativity_table(cv, encoder=enc)
    by_key = {(f, lv): r for f, lv, r in rows}
    names = list(enc.get_feature_names_out())
    for name, coef in zip(names, cv.coef_):
        factor, level = name.split("=", 1)
        assert by_key[(factor, level)] == pytest.approx(np.exp(coef), rel=1e-14)
    for factor, base in enc.base_levels_.items():
        assert by_key[(factor, base)] == 1.0
    fig = plot_relativities(cv, encoder=enc, true=true_relativities(), ncols=2)
    assert sum(a.get_visible() for a in fig.axes) == len(FACTORS)
    # Without an encoder: factors are the group labels, levels the column
    # names (x0, x1, ... for an array input).
    rows = relativity_table(cv)
    assert [f for f, _, _ in rows] == list(enc.groups_)
    assert [lv for _, lv, _ in rows] == [f"x{j}" for j in range(len(names))]


def test_plain_path_on_numeric_columns(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = rng.gamma(2.0, np.exp(0.3 * X[:, 0]) / 2.0)
    est = HDTweedie(n_lambdas=20).fit(X, y)
    ax = plot_path(est)
    assert not [ln for ln in ax.get_lines() if ln.get_label().startswith("selected")]
    fig = plot_relativities(est)
    assert sum(a.get_visible() for a in fig.axes) == 4
    out = tmp_path / "numeric.png"
    ax.figure.savefig(out)
    _check_png(out)


def test_bad_arguments(fitted):
    *_, cv = fitted
    with pytest.raises(TypeError, match="HDTweedie"):
        plot_path(object())
    with pytest.raises(TypeError, match="HDTweedieCV"):
        plot_cv(cv.path_)
    with pytest.raises(ValueError, match="s must be a positive lambda"):
        plot_path(cv, s=-1.0)
    with pytest.raises(ValueError, match="legend"):
        plot_path(cv, legend="yes")
    with pytest.raises(ValueError, match="factors not in the model"):
        plot_relativities(cv, factors=["no_such_factor"])
    with pytest.raises(ValueError, match="ncols"):
        plot_relativities(cv, ncols=0)
    with pytest.raises(ValueError, match="Relativity"):
        plot_relativities(cv, true=pd.DataFrame({"Factor": ["a"], "Level": ["b"]}))
    with pytest.raises(TypeError, match="model"):
        relativity_table(42)


def test_missing_matplotlib_names_the_extra(fitted, monkeypatch):
    *_, cv = fitted
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install hdtweedie\[plot\]"):
        plot_cv(cv)
