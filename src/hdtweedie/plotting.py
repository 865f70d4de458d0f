"""Plots of fitted paths, cross-validation curves and relativities.

Needs matplotlib (``pip install hdtweedie[plot]``), imported only when a plot
is drawn.  Every function draws on a given ``ax`` (or a new figure) and
returns the matplotlib object it drew on, so callers can restyle or save it.
"""

from __future__ import annotations

import math
import os
from numbers import Real

import numpy as np

__all__ = ["plot_path", "plot_cv", "plot_relativities", "relativity_table", "base_levels"]

_LOSS_LABELS = {
    "deviance": "Tweedie deviance",
    "mse": "Mean squared error",
    "mae": "Mean absolute error",
    "loglik": "Negative Tweedie log-likelihood",
}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plotting needs matplotlib, which is not installed: "
            "pip install hdtweedie[plot]"
        ) from exc
    return plt


def _new_axes(ax, figsize):
    if ax is not None:
        return ax
    plt = _pyplot()
    _, ax = plt.subplots(figsize=figsize)
    return ax


def _path_of(model):
    """The fitted path estimator and the lambda it selected (or None)."""
    if hasattr(model, "path_") and hasattr(model, "cv_mean_"):
        return model.path_, float(model.lambda_)
    if hasattr(model, "coef_path_") and hasattr(model, "lambdas_"):
        return model, None
    raise TypeError(
        "model must be a fitted HDTweedie or HDTweedieCV, "
        f"got {type(model).__name__}"
    )


def _group_structure(path):
    """Group labels and the group position of every column."""
    n_features = path.coef_path_.shape[0]
    labels = list(getattr(path, "group_labels_", range(n_features)))
    index = np.asarray(getattr(path, "group_index_", np.arange(n_features)))
    return labels, index


def _feature_names(path):
    names = getattr(path, "feature_names_in_", None)
    if names is None:
        return [f"x{j}" for j in range(path.coef_path_.shape[0])]
    return [str(n) for n in names]


def _nonzero_groups(path):
    """Number of groups with a non-zero coefficient at each lambda."""
    labels, index = _group_structure(path)
    nz = np.abs(path.coef_path_) > 0
    counts = np.zeros(nz.shape[1], dtype=int)
    for g in range(len(labels)):
        counts += nz[index == g].any(axis=0)
    return counts


def plot_path(model, *, group_norm=False, s=None, ax=None, legend="auto"):
    """Coefficient paths against log lambda, as R's ``plot.HDtweedie``.

    Parameters
    ----------
    model : HDTweedie or HDTweedieCV
        A fitted estimator.  For :class:`~hdtweedie.HDTweedieCV` the path is
        that of the full-data fit and its selected ``lambda_`` is marked.
    group_norm : bool, default=False
        Plot the Euclidean norm of each group's coefficients instead of the
        individual coefficients (R's ``group = TRUE``).
    s : float, optional
        A lambda to mark with a vertical line; defaults to the selected
        lambda of a cross-validated model (nothing is marked otherwise).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    legend : {"auto", True, False}, default="auto"
        Label lines by group; ``"auto"`` does so when there are at most 12
        groups.

    Returns
    -------
    matplotlib.axes.Axes
    """
    path, selected = _path_of(model)
    if s is not None:
        if isinstance(s, bool) or not isinstance(s, Real) or not s > 0:
            raise ValueError(f"s must be a positive lambda, got {s!r}")
        selected = float(s)
    if legend not in ("auto", True, False):
        raise ValueError(f"legend must be 'auto', True or False, got {legend!r}")
    ax = _new_axes(ax, (7, 4.5))
    log_lam = np.log(np.asarray(path.lambdas_, dtype=float))
    coefs = np.asarray(path.coef_path_, dtype=float)
    labels, index = _group_structure(path)
    colours = _colour_cycle(len(labels))
    show_legend = len(labels) <= 12 if legend == "auto" else legend

    for g, label in enumerate(labels):
        cols = np.flatnonzero(index == g)
        if group_norm:
            ax.plot(log_lam, np.sqrt((coefs[cols] ** 2).sum(axis=0)),
                    color=colours[g], label=str(label))
        else:
            for k, j in enumerate(cols):
                ax.plot(log_lam, coefs[j], color=colours[g], lw=1.2,
                        label=str(label) if k == 0 else None)
    ax.axhline(0.0, color="0.6", lw=0.8)
    if selected is not None:
        ax.axvline(math.log(selected), color="black", ls="--", lw=1.0,
                   label=f"selected (log lambda = {math.log(selected):.2f})")
    ax.set_xlabel("Log lambda")
    ax.set_ylabel("Group norm" if group_norm else "Coefficients")
    _top_axis_counts(ax, log_lam, _nonzero_groups(path))
    if show_legend:  # beside the axes: inside, it hides the paths where they matter
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax


def plot_cv(cv, *, ax=None):
    """Cross-validation curve with error bars, as R's ``plot.cv.HDtweedie``.

    Parameters
    ----------
    cv : HDTweedieCV
        A fitted cross-validated estimator.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        Mean CV loss (points) with one-standard-error bars against log
        lambda, dotted lines at ``lambda_min_`` and ``lambda_1se_``, and the
        number of non-zero groups along the top axis.
    """
    if not (hasattr(cv, "cv_mean_") and hasattr(cv, "lambdas_")):
        raise TypeError(
            f"cv must be a fitted HDTweedieCV, got {type(cv).__name__}"
        )
    ax = _new_axes(ax, (7, 4.5))
    log_lam = np.log(np.asarray(cv.lambdas_, dtype=float))
    mean = np.asarray(cv.cv_mean_, dtype=float)
    upper = np.asarray(cv.cv_upper_, dtype=float)
    lower = np.asarray(cv.cv_lower_, dtype=float)
    ok = np.isfinite(mean)
    ax.errorbar(log_lam[ok], mean[ok],
                yerr=[mean[ok] - lower[ok], upper[ok] - mean[ok]],
                fmt="o", color="tab:red", ms=3.5, ecolor="0.65",
                elinewidth=1.0, capsize=2)
    ax.axvline(math.log(cv.lambda_min_), color="black", ls=":", lw=1.0,
               label="lambda_min")
    ax.axvline(math.log(cv.lambda_1se_), color="black", ls="--", lw=1.0,
               label="lambda_1se")
    ax.set_xlabel("Log lambda")
    loss = getattr(cv, "loss_", None) or getattr(cv, "loss", None) or "deviance"
    ax.set_ylabel(_LOSS_LABELS.get(loss, "CV loss"))
    path = getattr(cv, "path_", None)
    if path is not None and len(path.lambdas_) == len(log_lam):
        _top_axis_counts(ax, log_lam, _nonzero_groups(path))
    ax.legend(fontsize="small", loc="best")
    return ax


def _top_axis_counts(ax, log_lam, counts):
    """Label the top axis with the number of non-zero groups, as R does."""
    top = ax.secondary_xaxis("top")
    n_ticks = min(8, len(log_lam))
    picks = np.unique(np.linspace(0, len(log_lam) - 1, n_ticks).round().astype(int))
    top.set_xticks(log_lam[picks])
    top.set_xticklabels([str(int(c)) for c in np.asarray(counts)[picks]])
    top.set_xlabel("Non-zero groups", fontsize="small")


def _colour_cycle(n):
    plt = _pyplot()
    base = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [base(i % base.N) for i in range(n)]


# -- relativities -----------------------------------------------------------

def _tidy_rows(table):
    """(factor, level, relativity) triples from a DataFrame, rows or dict."""
    if table is None:
        return []
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        missing = {"Factor", "Level", "Relativity"} - set(table.columns)
        if missing:
            raise ValueError(
                "a relativity table needs columns Factor, Level and Relativity; "
                f"missing {sorted(missing)}"
            )
        return [(str(f), str(lv), float(r)) for f, lv, r in
                zip(table["Factor"], table["Level"], table["Relativity"])]
    if isinstance(table, dict):
        return [(str(f), str(lv), float(r))
                for f, levels in table.items() for lv, r in levels.items()]
    rows = []
    for row in table:
        if isinstance(row, dict):
            rows.append((str(row["Factor"]), str(row["Level"]),
                         float(row["Relativity"])))
        else:
            f, lv, r = row[:3]
            rows.append((str(f), str(lv), float(r)))
    return rows


def relativity_table(model, encoder=None):
    """Fitted relativities as (factor, level, relativity) rows.

    Parameters
    ----------
    model : scoring model, path, HDTweedie or HDTweedieCV
        A model loaded with :func:`hdtweedie.scoring.load_model` (or the path
        of an exported model file), or a fitted estimator.
    encoder : FactorEncoder, optional
        The encoder that made the estimator's columns; gives factor and level
        names and base levels.  Ignored for a loaded model.

    Returns
    -------
    list of tuple
        ``(factor, level, relativity)`` with base levels at 1.0.
    """
    if isinstance(model, (str, os.PathLike)):
        from .scoring import load_model

        model = load_model(model)
    if hasattr(model, "factor_table") and not hasattr(model, "coef_"):
        return _tidy_rows(model.factor_table(include_base=False))
    if not hasattr(model, "coef_"):
        raise TypeError(
            "model must be a loaded scoring model, a model file path or a fitted "
            f"HDTweedie/HDTweedieCV, got {type(model).__name__}"
        )
    if encoder is not None:
        return _encoder_relativities(model, encoder)
    coef = np.asarray(model.coef_, dtype=float)
    path = model.path_ if hasattr(model, "path_") else model
    labels, index = _group_structure(path)
    names = _feature_names(path)
    return [(str(labels[index[j]]), names[j], float(np.exp(coef[j])))
            for j in range(coef.size)]


def _encoder_relativities(model, encoder):
    """Relativities by factor level, using an encoder's level structure."""
    coef = np.asarray(model.coef_, dtype=float)
    names = [str(n) for n in encoder.get_feature_names_out()]
    if len(names) != coef.size:
        raise ValueError(
            f"encoder makes {len(names)} columns but the model has {coef.size} "
            "coefficients"
        )
    by_name = dict(zip(names, coef))
    rows = []
    for factor, levels, _base, columns in _encoder_layout(encoder):
        if levels is None:  # numeric input: one coefficient per unit
            rows.append((factor, "per unit", float(np.exp(by_name[columns[0]]))))
            continue
        for level, col in zip(levels, columns):
            rel = 1.0 if col is None else float(np.exp(by_name[col]))
            rows.append((factor, str(level), rel))
    return rows


def _encoder_layout(encoder):
    """Yield (factor, levels or None, base, column per level) from an encoder."""
    groups = list(encoder.groups_)
    names = [str(n) for n in encoder.get_feature_names_out()]
    levels_of = getattr(encoder, "levels_", None) or getattr(encoder, "categories_", None)
    base_of = getattr(encoder, "base_levels_", None) or {}
    seen = []
    for g in groups:
        if g not in seen:
            seen.append(g)
    for factor in seen:
        cols = [n for n, g in zip(names, groups) if g == factor]
        if isinstance(levels_of, dict) and factor in levels_of:
            levels = [str(lv) for lv in levels_of[factor]]
            base = str(base_of.get(factor)) if factor in base_of else None
            col_iter = iter(cols)
            per_level = [None if lv == base else next(col_iter, None) for lv in levels]
            yield factor, levels, base, per_level
        else:
            yield factor, None, None, cols


def plot_relativities(model, *, encoder=None, true=None, factors=None,
                      ncols=3, fig=None):
    """Fitted relativities per rating factor, with the true ones when known.

    Parameters
    ----------
    model : scoring model, path, HDTweedie or HDTweedieCV
        See :func:`relativity_table`.
    encoder : FactorEncoder, optional
        Level structure for a fitted estimator.
    true : DataFrame, dict or rows, optional
        Known relativities (columns ``Factor``, ``Level``, ``Relativity``, a
        ``{factor: {level: relativity}}`` dict, or such rows), for instance
        :func:`hdtweedie.datasets.true_relativities`.  They are rescaled to
        the fitted base level of each factor before plotting.
    factors : list of str, optional
        Factors to show, in order; default all fitted factors.
    ncols : int, default=3
        Panels per row.
    fig : matplotlib.figure.Figure, optional
        Figure to draw on; a new one is made when omitted.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(model, (str, os.PathLike)):
        from .scoring import load_model

        model = load_model(model)
    fitted = relativity_table(model, encoder)
    bases = base_levels(model, encoder)
    truth = _tidy_rows(true)
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    order = []
    for f, _, _ in fitted:
        if f not in order:
            order.append(f)
    if factors is not None:
        unknown = [f for f in factors if f not in order]
        if unknown:
            raise ValueError(f"factors not in the model: {unknown}")
        order = list(factors)
    if not order:
        raise ValueError("the model has no factors to plot")
    true_map = {}
    for f, lv, r in truth:
        true_map.setdefault(f, {})[lv] = r

    plt = _pyplot()
    nrows = math.ceil(len(order) / ncols)
    ncols_used = min(ncols, len(order))
    if fig is None:
        fig = plt.figure(figsize=(4.2 * ncols_used, 3.2 * nrows))
    axes = fig.subplots(nrows, ncols_used, squeeze=False).ravel()
    for ax, factor in zip(axes, order):
        rows = [(lv, r) for f, lv, r in fitted if f == factor]
        levels = [lv for lv, _ in rows]
        x = np.arange(len(levels))
        ax.bar(x, [r for _, r in rows], color="tab:blue", alpha=0.75,
               label="fitted")
        known = _rebased_truth(true_map.get(factor), rows, bases.get(factor))
        if known is not None:
            ax.plot(x, known, "D", color="black", ms=5, mfc="white", label="true")
        ax.axhline(1.0, color="0.4", lw=0.8)
        ax.set_xticks(x)
        ax.set_xticklabels(levels, rotation=45 if len(levels) > 6 else 0,
                           ha="right" if len(levels) > 6 else "center",
                           fontsize="small")
        ax.set_title(factor)
        ax.set_ylabel("Relativity")
    for ax in axes[len(order):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(handles, labels, fontsize="small", loc="best")
    fig.tight_layout()
    return fig


def base_levels(model, encoder=None):
    """Base level of each factor of a loaded model or an encoder, by name.

    Parameters
    ----------
    model : ScoringModel or estimator
        A loaded model file is read first (its factors carry their base levels).
    encoder : FactorEncoder, optional
        Used when ``model`` is not a loaded model file.

    Returns
    -------
    dict
        Factor name to base level (as text); empty when neither says.
    """
    document = getattr(model, "document", None)
    if isinstance(document, dict):
        return {str(spec["name"]): str(spec["base_level"])
                for spec in document.get("inputs", []) if spec.get("kind") == "factor"}
    if encoder is not None:
        for name in ("base_levels_", "base_level_"):
            bases = getattr(encoder, name, None)
            if isinstance(bases, dict):
                return {str(k): str(v) for k, v in bases.items()}
    return {}


def _rebased_truth(truth, rows, base):
    """True relativities on the fitted base, aligned to the fitted levels."""
    if not truth:
        return None
    scale = truth.get(base, 1.0) if base is not None else 1.0
    values = [truth.get(lv, np.nan) / scale for lv, _ in rows]
    return None if np.all(np.isnan(values)) else np.asarray(values)
