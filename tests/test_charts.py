"""Diagnostic charts render to PNG under Agg and draw the numbers of their tables."""

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from hdtweedie.charts import ae_chart, double_lift_chart, lift_chart, lorenz_chart  # noqa: E402
from hdtweedie.datasets import make_motor_portfolio  # noqa: E402
from hdtweedie.diagnostics import (  # noqa: E402
    actual_vs_expected,
    double_lift_table,
    gini,
    lift_table,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def book():
    df = make_motor_portfolio(n=8000, random_state=6)
    rng = np.random.default_rng(7)
    log_rel = sum(np.log(df[f].map(r).to_numpy(dtype=float))
                  for f, r in df.attrs["true_relativities"].items())
    df["expected"] = df["exposure"] * df.attrs["base_pure_premium"] * np.exp(log_rel)
    df["benchmark"] = df["exposure"] * df["incurred"].sum() / df["exposure"].sum()
    df["benchmark"] *= np.exp(rng.normal(0, 0.2, len(df)))
    df["postcode"] = rng.choice([f"district {i:02d}" for i in range(50)], len(df))
    df["vehicle_value"] = rng.uniform(2.0, 60.0, len(df))
    return df


def saved(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=80)
    assert path.read_bytes()[:8] == PNG_MAGIC
    return path


def test_lift_chart_draws_both_rates(book, tmp_path):
    table = lift_table(book["incurred"], book["expected"], book["exposure"])
    fig = lift_chart(table)
    saved(fig, tmp_path, "lift")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["Actual"].get_ydata(), table["actual_rate"])
    np.testing.assert_allclose(lines["Predicted"].get_ydata(), table["expected_rate"])
    np.testing.assert_array_equal(lines["Actual"].get_xdata(), np.arange(1, 11))


def test_double_lift_chart_draws_three_rates(book, tmp_path):
    table = double_lift_table(book["incurred"], book["expected"], book["benchmark"], book["exposure"])
    fig = double_lift_chart(table)
    saved(fig, tmp_path, "double_lift")
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"Actual", "Model", "Benchmark"}
    np.testing.assert_allclose(lines["Benchmark"].get_ydata(), table["benchmark_rate"])


def test_lorenz_chart_has_the_diagonal_and_the_gini(book, tmp_path):
    fig = lorenz_chart(book["incurred"], book["expected"], book["exposure"])
    saved(fig, tmp_path, "lorenz")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"Model (Gini {gini(book['incurred'], book['expected'], book['exposure']):.3f})" in labels
    diagonal = fig.axes[0].get_lines()[0]
    np.testing.assert_array_equal(diagonal.get_xdata(), diagonal.get_ydata())


@pytest.mark.parametrize("column", ["area", "postcode", "vehicle_value"])
def test_ae_chart_draws_ae_and_exposure_and_thins_many_labels(book, tmp_path, column):
    table = actual_vs_expected(book, column, "incurred", "expected", "exposure")
    fig = ae_chart(table)
    saved(fig, tmp_path, f"ae_{column}")
    ax, bars = fig.axes
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), table["ae"])
    np.testing.assert_allclose([p.get_height() for p in bars.patches], table["exposure"])
    assert any(np.allclose(line.get_ydata(), 1.0) for line in ax.get_lines()[1:])  # reference
    shown = [t.get_text() for t in ax.get_xticklabels()]
    assert len(shown) <= 25
    assert shown[0] == (str(table.index[0]) if column != "vehicle_value"
                        else f"({table.index[0].left:.4g}, {table.index[0].right:.4g}]")
    if column == "postcode":
        assert len(shown) < len(table) and ax.get_xticklabels()[0].get_rotation() > 0


def test_charts_draw_on_given_axes(book):
    fig = Figure()
    ax = fig.subplots()
    table = lift_table(book["incurred"], book["expected"], book["exposure"])
    assert lift_chart(table, ax=ax) is fig


def test_charts_reject_what_is_not_their_table(book):
    tables = actual_vs_expected(book, ["area", "conviction"], "incurred", "expected", "exposure")
    with pytest.raises(TypeError, match=r"ae_table must be one table.*ae_table\['area'\]"):
        ae_chart(tables)
    with pytest.raises(ValueError, match="lacks column"):
        ae_chart(lift_table(book["incurred"], book["expected"]))
    with pytest.raises(ValueError, match="benchmark_rate"):
        double_lift_chart(lift_table(book["incurred"], book["expected"]))
