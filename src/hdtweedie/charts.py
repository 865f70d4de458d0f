"""Charts of the model diagnostics in :mod:`hdtweedie.diagnostics`.

Needs matplotlib (``pip install hdtweedie[plot]``), imported only when a chart
is drawn.  Charts are drawn on a new :class:`matplotlib.figure.Figure` made
without pyplot (no GUI backend, no global figure list, so they work under Agg
and in long-running services), or on a given ``ax``; each function returns the
Figure, ready for ``fig.savefig("chart.png")`` or display in a notebook.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .diagnostics import gini, lorenz_curve

__all__ = ["lift_chart", "double_lift_chart", "lorenz_chart", "ae_chart"]

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


def _label_levels(ax, labels: list[str]) -> None:
    """Tick every level, or every k-th beyond ``_MAX_LABELS``; turn long or many labels."""
    n = len(labels)
    step = max(1, int(np.ceil(n / _MAX_LABELS)))
    ticks = np.arange(0, n, step)
    ax.set_xticks(ticks)
    longest = max(len(s) for s in labels)
    turn = n > 12 or longest * n > 60
    ax.set_xticklabels([labels[i] for i in ticks], rotation=60 if turn else 0,
                       ha="right" if turn else "center", rotation_mode="anchor")


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
