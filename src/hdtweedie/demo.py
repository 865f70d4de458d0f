"""The demo's analysis: a fit of the synthetic motor portfolio against the truth.

:func:`analyse` compares what a fit selected and the relativities it found
with the true effects of :func:`hdtweedie.datasets.make_motor_portfolio`;
:func:`save_plots` writes the demo's three figures and :func:`save_report`
its sign-off report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._atomic import atomic_write

__all__ = ["DemoAnalysis", "analyse", "relativity_errors", "save_plots", "save_report", "BIG_EFFECT"]

#: A level counts as having a clear effect when its true relativity differs from 1 by more than this.
BIG_EFFECT = 0.10


@dataclass(frozen=True)
class DemoAnalysis:
    """A fit compared with the truth.

    Attributes
    ----------
    selection : tuple of (str, bool, bool)
        ``(factor, has a true effect, selected)`` for every factor.
    matches : bool
        The selected factors are exactly those with a true effect.
    errors : tuple of dict
        :func:`relativity_errors` rows.
    largest_error : dict or None
        The row with the largest ``|error|`` among levels whose true
        relativity differs from 1 by more than :data:`BIG_EFFECT`.
    noise_deviation : float or None
        The largest ``|fitted - 1|`` over the levels of the noise factors.
    """

    selection: tuple
    matches: bool
    errors: tuple
    largest_error: dict | None
    noise_deviation: float | None


def relativity_errors(fitted_rows: Iterable, truth: Mapping, base_levels: Mapping) -> list[dict]:
    """Join fitted and true relativities on the fitted base of each factor.

    Parameters
    ----------
    fitted_rows : iterable of (factor, level, relativity)
        Fitted relativities.
    truth : dict
        ``{factor: {level: relativity}}``.
    base_levels : dict
        ``{factor: base level}`` of the fitted model.

    Returns
    -------
    list of dict
        Keys ``factor``, ``level``, ``true``, ``fitted``, ``error`` (fitted /
        true - 1), for every fitted level of a factor in ``truth``; the true
        relativities are rescaled to be 1 at the fitted base level.
    """
    rows = []
    for factor, level, fitted in fitted_rows:
        if factor not in truth or level not in truth[factor]:
            continue
        base = base_levels.get(factor)
        scale = truth[factor].get(base, 1.0) if base is not None else 1.0
        true = truth[factor][level] / scale
        rows.append({"factor": factor, "level": level, "true": true,
                     "fitted": float(fitted), "error": float(fitted) / true - 1.0})
    return rows


def analyse(model, selected: Iterable[str], truth: Mapping, rating: Sequence[str],
            noise: Sequence[str]) -> DemoAnalysis:
    """Compare a fitted model's selection and relativities with the truth.

    Parameters
    ----------
    model : ScoringModel
        The exported model, loaded with :func:`hdtweedie.scoring.load_model`.
    selected : iterable of str
        Factors with a non-zero coefficient
        (:func:`hdtweedie.portfolio.selected_groups`).
    truth : dict
        ``{factor: {level: relativity}}``, e.g. ``df.attrs["true_relativities"]``.
    rating, noise : sequence of str
        Factors with a true effect, and pure-noise factors.

    Returns
    -------
    DemoAnalysis
    """
    from .plotting import base_levels, relativity_table

    chosen = set(map(str, selected))
    selection = tuple((f, f in rating, f in chosen) for f in list(rating) + list(noise))
    errors = relativity_errors(relativity_table(model), truth, base_levels(model))
    big = [r for r in errors if abs(r["true"] - 1.0) > BIG_EFFECT]
    noisy = [abs(r["fitted"] - 1.0) for r in errors if r["factor"] in noise]
    return DemoAnalysis(selection=selection, matches=all(real == ch for _, real, ch in selection),
                        errors=tuple(errors),
                        largest_error=max(big, key=lambda r: abs(r["error"])) if big else None,
                        noise_deviation=max(noisy) if noisy else None)


def _use_agg() -> bool:
    """Draw off-screen (the demo only writes image files); False without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    return True


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        with atomic_write(path, "wb") as fh:
            fig.savefig(fh, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def save_plots(cv, model, true_table, out_dir: str | os.PathLike) -> list[str]:
    """Write ``path.png``, ``cv.png`` and ``relativities.png``, each whole or not at all.

    Parameters
    ----------
    cv : HDTweedieCV
        The fitted model.
    model : ScoringModel
        The same model as exported and loaded.
    true_table : DataFrame, dict or rows
        True relativities drawn beside the fitted ones
        (:func:`hdtweedie.datasets.true_relativities`).
    out_dir : str or path-like
        An existing folder.

    Returns
    -------
    list of str
        The file names written; empty when matplotlib is not installed.
    """
    if not _use_agg():
        return []
    from .plotting import plot_cv, plot_path, plot_relativities

    out_dir = Path(out_dir)
    ax = plot_path(cv, group_norm=True)
    ax.set_title("Group norm paths (dashed: selected lambda)")
    _save(ax.figure, out_dir / "path.png")
    ax = plot_cv(cv)
    ax.set_title(f"{cv.n_folds}-fold cross-validation")
    _save(ax.figure, out_dir / "cv.png")
    _save(plot_relativities(model, true=true_table), out_dir / "relativities.png")
    return ["path.png", "cv.png", "relativities.png"]


def save_report(model, df, out_dir: str | os.PathLike) -> list[str]:
    """Write ``report.html``, the sign-off report of the model on the portfolio, whole or not at all.

    Parameters
    ----------
    model : ScoringModel
        The exported model, loaded.
    df : pandas.DataFrame
        The portfolio (``incurred`` and ``exposure`` columns).
    out_dir : str or path-like
        An existing folder.

    Returns
    -------
    list of str
        ``["report.html"]``; empty when matplotlib is not installed.
    """
    if not _use_agg():
        return []
    from .report import write_report

    write_report(Path(out_dir) / "report.html", model, df, "incurred", "exposure")
    return ["report.html"]
