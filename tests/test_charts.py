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


# -- factor charts -------------------------------------------------------------------------------

def _factor_book(tmp_path, n_district=3, n=4000, seed=3):
    """The schema 1.0 fixture model (district widened to ``n_district`` levels) and data for it."""
    from signoff_models import add_level, fixture_document, write_document

    from hdtweedie.scoring import load_model

    doc = fixture_document()
    for k in range(n_district - 3):
        doc = add_level(doc, "district", f"{k + 10:02d}", 0.01 * (k % 7 - 3))
    model = load_model(write_document(doc, tmp_path / "wide.json"))
    rng = np.random.default_rng(seed)
    levels = {s["name"]: s["levels"] for s in doc["inputs"] if s["kind"] == "factor"}
    df = pd.DataFrame({name: rng.choice(lv, n) for name, lv in levels.items()})
    df["age"] = rng.uniform(20, 75, n)
    df["exposure"] = rng.uniform(0.2, 1.0, n)
    df["claims"] = np.asarray(model.predict(df, exposure=df["exposure"].to_numpy())) * rng.gamma(2.0, 0.5, n)
    return model, df


def test_factor_chart_data_matches_its_sources(tmp_path):
    from hdtweedie.charts import factor_chart_data

    model, df = _factor_book(tmp_path)
    tables = factor_chart_data(model, df, "claims", "exposure")
    assert list(tables) == ["area", "district", "ncd"]
    area = tables["area"]
    assert list(area.index) == ["A", "B", "C"] and area.attrs["base_level"] == "A"
    fitted = {r["Level"]: r["Relativity"] for r in model.factor_table() if r["Factor"] == "area"}
    np.testing.assert_allclose(area["fitted"], [fitted[lv] for lv in area.index], rtol=1e-15)
    sums = df.groupby("area")[["claims", "exposure"]].sum()
    rate = sums["claims"] / sums["exposure"]
    np.testing.assert_allclose(area["observed"], (rate / rate["A"]).loc[area.index], rtol=1e-12)
    np.testing.assert_allclose(area["exposure"], sums["exposure"].loc[area.index], rtol=1e-12)
    assert area["base"].tolist() == [True, False, False] and area["fitted_lower"].isna().all()


def test_factor_chart_data_takes_the_band_from_a_coef_table(tmp_path):
    from hdtweedie.charts import factor_chart_data

    model, df = _factor_book(tmp_path)
    names = ["intercept", *model.feature_names]
    coef = np.r_[model.intercept, model.coef]
    ct = pd.DataFrame({"coef": coef, "se": 0.1, "relativity": np.exp(coef),
                       "relativity_lower": np.exp(coef - 0.2), "relativity_upper": np.exp(coef + 0.2)},
                      index=names)
    ct.attrs["confidence_level"] = 0.9
    ncd = factor_chart_data(model, df, "claims", "exposure", coef_table=ct, factors=["ncd"])["ncd"]
    base = ncd.attrs["base_level"]
    assert ncd.loc[base, ["fitted_lower", "fitted_upper"]].tolist() == [1.0, 1.0]
    np.testing.assert_allclose(ncd.loc["0", "fitted_lower"], ct.at["ncd=0", "relativity_lower"])
    assert ncd.attrs["confidence_level"] == 0.9


def test_factor_chart_data_keeps_an_ordered_categorical_order(tmp_path):
    from hdtweedie.charts import factor_chart_data

    model, df = _factor_book(tmp_path)
    df["ncd"] = pd.Categorical(df["ncd"], categories=["3", "2", "1", "0"], ordered=True)
    assert factor_chart_data(model, df, "claims", "exposure")["ncd"].index.tolist() == ["3", "2", "1", "0"]


def test_factor_chart_data_refuses_bad_input(tmp_path):
    from hdtweedie.charts import factor_chart_data

    model, df = _factor_book(tmp_path)
    with pytest.raises(ValueError, match=r"factors: \['postcode'\] are not factors"):
        factor_chart_data(model, df, "claims", factors=["postcode"])
    with pytest.raises(ValueError, match="actual: column 'loss' is not in data"):
        factor_chart_data(model, df, "loss")
    with pytest.raises(TypeError, match="data must be a pandas DataFrame"):
        factor_chart_data(model, df.to_dict("records"), "claims")
    with pytest.raises(ValueError, match="not seen in training"):
        factor_chart_data(model, df.assign(area="Z"), "claims")


def test_factor_chart_draws_the_table(tmp_path):
    from hdtweedie.charts import factor_chart, factor_chart_data

    model, df = _factor_book(tmp_path)
    table = factor_chart_data(model, df, "claims", "exposure")["ncd"]
    fig = factor_chart(table)
    saved(fig, tmp_path, "factor")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["Fitted relativity"].get_ydata(), table["fitted"])
    np.testing.assert_allclose(lines["Observed (one-way)"].get_ydata(), table["observed"])
    base = int(np.flatnonzero(table["base"])[0])
    assert lines["Base level"].get_xdata().tolist() == [base]
    bars = fig.axes[1].patches
    np.testing.assert_allclose([b.get_height() for b in bars], table["exposure"])
    bold = [t.get_text() for t in ax.get_xticklabels() if t.get_fontweight() == "bold"]
    assert bold == [table.attrs["base_level"]]


def test_factor_chart_labels_all_of_fifty_levels(tmp_path):
    from hdtweedie.charts import factor_chart, factor_chart_data

    model, df = _factor_book(tmp_path, n_district=50, n=6000)
    table = factor_chart_data(model, df, "claims", "exposure")["district"]
    assert len(table) == 50
    fig = factor_chart(table)
    saved(fig, tmp_path, "fifty")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == list(table.index)
    assert fig.get_size_inches()[0] >= 15


def test_factor_chart_rejects_other_tables(book):
    from hdtweedie.charts import factor_chart

    with pytest.raises(ValueError, match="lacks column"):
        factor_chart(lift_table(book["incurred"], book["expected"], book["exposure"]))
