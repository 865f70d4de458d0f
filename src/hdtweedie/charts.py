"""Charts of the model diagnostics in :mod:`hdtweedie.diagnostics`.

Needs matplotlib (``pip install hdtweedie[plot]``), imported only when a chart
is drawn.  Charts are drawn on a new :class:`matplotlib.figure.Figure` made
without pyplot (no GUI backend, no global figure list, so they work under Agg
and in long-running services), or on a given ``ax``; each function returns the
Figure, ready for ``fig.savefig("chart.png")`` or display in a notebook.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .diagnostics import gini, lorenz_curve

__all__ = ["lift_chart", "double_lift_chart", "lorenz_chart", "ae_chart", "factor_chart", "factor_chart_data"]

# Beyond this many levels the A/E chart labels only every k-th one.
_MAX_LABELS = 25


def _axes(ax, figsize):
    """The given axes, or the axes of a new pyplot-free Figure."""
    if ax is not None:
        return ax
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("charts need matplotlib, which is not installed: "
                          "pip install hdtweedie[plot]") from exc
    return Figure(figsize=figsize, layout="constrained").subplots()


def _check_table(table, name: str, required: list[str]) -> None:
    if isinstance(table, dict):
        raise TypeError(f"{name} must be one table, got a dict of {len(table)}; "
                        f"pass one of them, e.g. {name}[{next(iter(table), '')!r}]")
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; build it with hdtweedie.diagnostics")
    if table.empty:
        raise ValueError(f"{name} has no rows")


def _rate_chart(table, lines: dict, title: str, xlabel: str, ax):
    """Rates per bin as lines with markers, bins on the x axis."""
    ax = _axes(ax, (7, 4.5))
    bins = np.asarray(table.index)
    for column, (label, style) in lines.items():
        ax.plot(bins, table[column], style, label=label, markersize=5)
    ax.set_xticks(bins)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Rate per unit exposure")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax.figure


def lift_chart(table, *, ax=None):
    """Actual and predicted rate by bin of a :func:`~hdtweedie.diagnostics.lift_table`.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`~hdtweedie.diagnostics.lift_table`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError, ValueError
        If ``table`` is not a lift table.
    """
    _check_table(table, "table", ["actual_rate", "expected_rate"])
    lines = {"actual_rate": ("Actual", "o-"), "expected_rate": ("Predicted", "s--")}
    return _rate_chart(table, lines, "Lift chart",
                       "Bin of predicted rate (equal exposure, 1 = lowest)", ax)


def double_lift_chart(table, *, ax=None):
    """Actual, model and benchmark rates by bin of a :func:`~hdtweedie.diagnostics.double_lift_table`.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`~hdtweedie.diagnostics.double_lift_table`.
    ax : matplotlib.axes.Axes, optional
        As for :func:`lift_chart`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on; raises as :func:`lift_chart` for another table.
    """
    _check_table(table, "table", ["actual_rate", "expected_rate", "benchmark_rate"])
    lines = {"actual_rate": ("Actual", "o-"), "expected_rate": ("Model", "s--"),
             "benchmark_rate": ("Benchmark", "^:")}
    return _rate_chart(table, lines, "Double lift chart",
                       "Bin of model / benchmark (equal exposure, 1 = lowest)", ax)


def lorenz_chart(actual, expected, exposure=None, *, ax=None):
    """Lorenz curve of a model's ranking, with the diagonal and the Gini in the legend.

    Parameters
    ----------
    actual, expected, exposure : array-like of shape (n,)
        As for :func:`~hdtweedie.diagnostics.lorenz_curve`, which also gives
        the errors raised.
    ax : matplotlib.axes.Axes, optional
        As for :func:`lift_chart`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    curve = lorenz_curve(actual, expected, exposure)
    g = gini(actual, expected, exposure)
    ax = _axes(ax, (5.5, 5.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="Random (Gini 0)")
    ax.plot(curve["exposure_share"], curve["actual_share"], linewidth=2,
            label=f"Model (Gini {g:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("Cumulative share of exposure (lowest predicted rate first)")
    ax.set_ylabel("Cumulative share of actual")
    ax.set_title("Lorenz curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return ax.figure


def _level_label(level) -> str:
    if isinstance(level, pd.Interval):
        return f"({level.left:.4g}, {level.right:.4g}]"
    return str(level)


def _label_levels(ax, labels: list[str], most: int = _MAX_LABELS) -> np.ndarray:
    """Tick every level, or every k-th beyond ``most``; turn long or many labels; return the ticks."""
    n = len(labels)
    step = max(1, int(np.ceil(n / most)))
    ticks = np.arange(0, n, step)
    ax.set_xticks(ticks)
    longest = max(len(s) for s in labels)
    turn = n > 12 or longest * n > 60
    ax.set_xticklabels([labels[i] for i in ticks], rotation=60 if turn else 0,
                       ha="right" if turn else "center", rotation_mode="anchor",
                       fontsize="small" if n > 30 else None)
    return ticks


def ae_chart(ae_table, *, ax=None):
    """A/E by level with its interval, over the exposure of each level.

    Parameters
    ----------
    ae_table : pandas.DataFrame
        One table from :func:`~hdtweedie.diagnostics.actual_vs_expected`
        (for several ``by`` columns, one value of the dict it returns).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        A/E with its interval (left axis, reference line at 1) and exposure
        bars (right axis) per level; with many levels only every k-th label
        is shown.

    Raises
    ------
    TypeError, ValueError
        If ``ae_table`` is not one A/E table.
    """
    _check_table(ae_table, "ae_table", ["exposure", "ae", "ae_lower", "ae_upper"])
    n = len(ae_table)
    ax = _axes(ax, (max(7.0, min(16.0, 0.28 * n + 3)), 4.8))
    x = np.arange(n)
    bars = ax.twinx()
    bars.bar(x, ae_table["exposure"], color="#c9d6e3", width=0.8, label="Exposure")
    bars.set_ylabel("Exposure")
    bars.set_ylim(0, 2.5 * ae_table["exposure"].max())  # keep the bars below the A/E line
    # The A/E axes in front of the bars' twin, with a see-through background.
    ax.set_zorder(bars.get_zorder() + 1)
    ax.patch.set_visible(False)
    ae = ae_table["ae"].to_numpy()
    low, high = ae_table["ae_lower"].to_numpy(), ae_table["ae_upper"].to_numpy()
    # Error bars, not a band: levels of a factor are points, not a continuum.
    ax.errorbar(x, ae, yerr=[ae - low, high - ae], fmt="o-", color="C0", markersize=4,
                linewidth=1, capsize=3 if n <= 30 else 0, elinewidth=1,
                label=f"Actual / expected, {ae_table.attrs.get('confidence_level', 0.95):.0%} interval")
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
    ax.set_xlim(-0.6, n - 0.4)
    bottom, top = min(low.min(), 1.0), max(high.max(), 1.0)
    span = max(top - bottom, 0.02)
    ax.set_ylim(bottom - 0.05 * span, top + 0.25 * span)  # headroom for the legend
    ax.set_ylabel("Actual / expected")
    name = ae_table.index.name
    ax.set_xlabel(str(name) if name is not None else "Level")
    ax.set_title(f"Actual vs expected by {name}" if name is not None else "Actual vs expected")
    _label_levels(ax, [_level_label(v) for v in ae_table.index])
    handles, labels = ax.get_legend_handles_labels()
    bar_handles, bar_labels = bars.get_legend_handles_labels()
    ax.legend(handles + bar_handles, labels + bar_labels, loc="upper left", ncol=2, fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return ax.figure


# -- factor charts -------------------------------------------------------------------------------

_FACTOR_COLUMNS = ["exposure", "fitted", "fitted_lower", "fitted_upper", "observed", "base"]
# Every level keeps its label up to this many levels; beyond, every k-th.
_MAX_FACTOR_LABELS = 60


def _scoring_model(model):
    """A ScoringModel from a model, a model file, or a fitted estimator (with its encoder)."""
    from .scoring import CompositeModel, ScoringModel, load_model

    if isinstance(model, (ScoringModel, CompositeModel)):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    if hasattr(model, "export") and hasattr(model, "coef_"):
        from ._export import build_document
        from .scoring._load import _restore

        return _restore(build_document(model, encoder=getattr(model, "encoder_", None)), "<estimator>", False)
    raise TypeError(f"model must be a ScoringModel, a CompositeModel, a model file or a fitted estimator, "
                    f"got {type(model).__name__}")


def _level_order(spec: dict, column) -> list:
    """The model's levels, in the data's order when it is an ordered categorical."""
    from .scoring import level_key

    levels = list(spec["levels"])
    dtype = getattr(column, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        rank = {level_key(c): i for i, c in enumerate(dtype.categories)}
        levels.sort(key=lambda lv: rank.get(lv, len(rank)))
    return levels


def factor_chart_data(model, data, actual, exposure=None, *, coef_table=None, factors=None):
    """Per-level tables for :func:`factor_chart`: exposure, fitted and observed relativities.

    Parameters
    ----------
    model : ScoringModel, str, os.PathLike or fitted estimator
        The model (a file is loaded; an estimator is exported in memory).
    data : pandas.DataFrame
        Rows holding every input of the model and the ``actual`` column.
    actual : str or array-like of shape (n,)
        Observed amount per row (claim count or loss, not divided by exposure).
    exposure : str or array-like of shape (n,), optional
        Exposure per row (default 1).
    coef_table : pandas.DataFrame, optional
        :func:`hdtweedie.inference.coef_table` output (indexed by feature,
        with ``relativity_lower`` and ``relativity_upper``): adds the fitted
        relativity's confidence band.  Features with a zero coefficient may
        be absent (their band is 1, as the base level's).
    factors : list of str, optional
        Factors to tabulate (default: every factor of the model).

    Returns
    -------
    dict of str to pandas.DataFrame
        One table per factor, indexed by level in the model's level order
        (the data's order for an ordered categorical), with columns
        ``exposure``, ``fitted``, ``fitted_lower``, ``fitted_upper`` (NaN
        without ``coef_table``; 1 at the base level), ``observed`` (the
        one-way actual rate of the level over that of the base level, NaN for
        levels without exposure) and ``base``.  ``attrs`` holds ``factor``,
        ``base_level`` and ``confidence_level``.

    Raises
    ------
    ValueError
        For an unknown factor, rows the model cannot encode, or bad
        ``actual``/``exposure`` values (as in :mod:`hdtweedie.diagnostics`).
    TypeError
        For a ``data`` that is not a DataFrame or a ``model`` of the wrong type.
    """
    from ._frames import to_pandas
    from .diagnostics import _vector, actual_vs_expected

    data = to_pandas(data, "data")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame (or a polars or Arrow one), "
                        f"got {type(data).__name__}")
    m = _scoring_model(model)
    specs, terms = _factor_specs(m)
    if coef_table is not None and hasattr(m, "parts"):
        raise ValueError("coef_table: a composite model has one coefficient table per part; "
                         "chart the parts' files for intervals")
    chosen = list(specs) if factors is None else list(factors)
    unknown = [f for f in chosen if f not in specs]
    if unknown:
        raise ValueError(f"factors: {unknown} are not factors of the model (factors: {list(specs)})")
    actual = _vector(actual, "actual", len(data), data)
    e = np.ones(len(data)) if exposure is None else _vector(exposure, "exposure", len(data), data)
    expected = np.asarray(m.predict(data, exposure=e, warn=False), dtype=float)
    fitted = {}
    for row in m.factor_table(include_base=False):
        fitted.setdefault(row["Factor"], {})[row["Level"]] = row["Relativity"]
    keys = _level_keys(terms, data, chosen)
    # A composite pure premium has no single power: 1.5, the compound Poisson-Gamma's middle.
    power = getattr(m, "power", 1.5)
    ae = actual_vs_expected(keys, chosen, actual, expected, e, power=power) if chosen else {}
    level = coef_table.attrs.get("confidence_level", 0.95) if coef_table is not None else None
    out = {}
    for factor in chosen:
        spec = specs[factor]
        levels = _level_order(spec, data[factor])
        table = pd.DataFrame(index=pd.Index(levels, name=factor), columns=_FACTOR_COLUMNS, dtype=float)
        one_way = ae[factor].reindex(levels)
        table["exposure"] = one_way["exposure"].fillna(0.0)
        table["fitted"] = [fitted[factor][lv] for lv in levels]
        base_rate = one_way["actual_rate"].get(spec["base_level"], np.nan)
        table["observed"] = one_way["actual_rate"] / base_rate if base_rate > 0 else np.nan
        table["base"] = [lv == spec["base_level"] for lv in levels]
        if coef_table is not None:
            table[["fitted_lower", "fitted_upper"]] = _band(m, spec, levels, coef_table)
        table["base"] = table["base"].astype(bool)
        table.attrs.update(factor=factor, base_level=spec["base_level"], confidence_level=level)
        out[factor] = table
    return out


def _band(model, spec: dict, levels: list, coef_table) -> np.ndarray:
    """Interval ends per level: the coef table's, or 1 where the level shares the base's coefficient."""
    out = np.ones((len(levels), 2))
    for i, lv in enumerate(levels):
        feature = spec["features"].get(lv)
        if feature is None:
            continue
        if feature in coef_table.index:
            out[i] = coef_table.loc[feature, ["relativity_lower", "relativity_upper"]].to_numpy(dtype=float)
        elif model.coefficients[feature] != 0:
            raise ValueError(f"coef_table lacks the feature {feature!r}, which has a non-zero coefficient")
    return out


def _factor_specs(model) -> tuple[dict, dict]:
    """Factor specs and scoring terms by name: the model's, or for a composite the first part's with each."""
    specs, terms = {}, {}
    for part in getattr(model, "parts", {"": model}).values():
        by_name = {t.name: t for t in part._engine.terms}
        for spec in part.document["inputs"]:
            if spec["kind"] == "factor" and spec["name"] not in specs:
                specs[spec["name"]], terms[spec["name"]] = spec, by_name[spec["name"]]
    return specs, terms


def _level_keys(terms: dict, data: pd.DataFrame, factors: list) -> pd.DataFrame:
    """The model level of each row and factor (bands, merged levels); other values as their text."""
    from .scoring import level_key

    out = {}
    for factor in factors:
        codes = terms[factor].codes(data[factor])
        levels = np.array(terms[factor].levels, dtype=object)
        raw = data[factor].map(level_key).to_numpy(dtype=object)
        out[factor] = np.where(codes >= 0, levels[np.maximum(codes, 0)], raw)
    return pd.DataFrame(out, index=data.index, columns=list(factors))


def factor_chart(table, *, ax=None):
    """Fitted and observed relativities of one factor's levels, over their exposure.

    Parameters
    ----------
    table : pandas.DataFrame
        One table from :func:`factor_chart_data` (or any table indexed by
        level with columns ``exposure``, ``fitted``, ``observed``, ``base``
        and optionally ``fitted_lower``, ``fitted_upper``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        Exposure bars (right axis), the fitted relativity with its
        confidence band when given, the observed one-way relativity, a
        reference line at 1 and the base level marked, levels in the
        table's order; all labels shown up to 60 levels.

    Raises
    ------
    TypeError, ValueError
        If ``table`` is not such a table.
    """
    _check_table(table, "table", ["exposure", "fitted", "observed", "base"])
    n = len(table)
    ax = _axes(ax, (max(7.0, min(18.0, 0.3 * n + 3)), 5.0))
    x = np.arange(n)
    bars = ax.twinx()
    base = table["base"].to_numpy(dtype=bool)
    bars.bar(x, table["exposure"], width=0.8, label="Exposure",
             color=np.where(base, "#9fb6cd", "#dbe4ee"), edgecolor=np.where(base, "#44607e", "none"))
    bars.set_ylabel("Exposure")
    bars.set_ylim(0, 3.0 * max(float(table["exposure"].max()), 1e-12))  # bars stay below the lines
    ax.set_zorder(bars.get_zorder() + 1)
    ax.patch.set_visible(False)
    fitted = table["fitted"].to_numpy(dtype=float)
    values = [fitted, table["observed"].to_numpy(dtype=float)]
    level = table.attrs.get("confidence_level")
    if {"fitted_lower", "fitted_upper"} <= set(table.columns) and table["fitted_lower"].notna().any():
        low, high = table["fitted_lower"].to_numpy(dtype=float), table["fitted_upper"].to_numpy(dtype=float)
        ax.fill_between(x, low, high, color="C0", alpha=0.18, linewidth=0, step=None,
                        label=f"Fitted, {level or 0.95:.0%} interval")
        values += [low, high]
    ax.plot(x, fitted, "o-", color="C0", markersize=4, linewidth=1.6, label="Fitted relativity")
    ax.plot(x, values[1], "s--", color="C3", markersize=4, linewidth=1, label="Observed (one-way)")
    ax.plot(x[base], fitted[base], "D", color="black", markersize=7, label="Base level", zorder=5)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    finite = np.concatenate([v[np.isfinite(v)] for v in values] + [np.array([1.0])])
    bottom, top = finite.min(), finite.max()
    span = max(top - bottom, 0.05)
    ax.set_ylim(max(0.0, bottom - 0.08 * span), top + 0.3 * span)  # headroom for the legend
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylabel("Relativity (base level = 1)")
    name = table.attrs.get("factor", table.index.name)
    ax.set_xlabel(str(name) if name is not None else "Level")
    ax.set_title(f"Relativities of {name}" if name is not None else "Relativities")
    ticks = _label_levels(ax, [_level_label(v) for v in table.index], _MAX_FACTOR_LABELS)
    for tick, i in zip(ax.get_xticklabels(), ticks):
        if base[i]:
            tick.set_fontweight("bold")
    handles, names = ax.get_legend_handles_labels()
    bar_handles, bar_names = bars.get_legend_handles_labels()
    ax.legend(handles + bar_handles, names + bar_names, loc="upper left", ncol=3, fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return ax.figure
