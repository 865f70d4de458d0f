"""What changed between two versions of a model: a rate review's change log.

:func:`diff_models` lines up every level of every factor of two exported
models (files or :class:`~hdtweedie.scoring.ScoringModel`), with the old and
new relativity and the change, flags changes beyond a threshold, lists the
factors added or dropped and the change of the base rate.  The result
renders as Markdown or CSV.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass

__all__ = ["ModelDiff", "diff_models"]

_CSV_HEADER = ["Factor", "Level", "Old", "New", "Change", "Status", "Flagged"]


@dataclass(frozen=True)
class ModelDiff:
    """Relativities of two model versions side by side.

    Attributes
    ----------
    old_label, new_label : str
        ``"<model_id> version <version>"`` of each model.
    threshold : float
        Relative change beyond which a level is flagged.
    base_rate : dict
        ``old``, ``new`` (``exp(intercept)`` at the old model's base levels)
        and ``change`` (new / old - 1).
    rows : tuple of dict
        One per level (and ``"per unit"`` row of a numeric input):
        ``factor``, ``level``, ``old``, ``new`` (relativity or None where
        the model lacks the level), ``change`` (new / old - 1, or None),
        ``status`` (``"unchanged"``, ``"changed"``, ``"level added"``,
        ``"level dropped"``, ``"factor added"``, ``"factor dropped"``) and
        ``flagged`` (beyond the threshold, or added or dropped).
    factors_added, factors_dropped : tuple of str
        Factors with an effect in the new model only, or in the old only
        (a factor whose relativities are all 1 counts as absent).
    rebased : tuple of str
        Factors whose base level differs between the models; their new
        relativities (and the new base rate) are restated at the old base
        level so that the two columns compare like with like.
    """

    old_label: str
    new_label: str
    threshold: float
    base_rate: dict
    rows: tuple
    factors_added: tuple
    factors_dropped: tuple
    rebased: tuple

    @property
    def flagged(self) -> list[dict]:
        """The rows flagged.

        Returns
        -------
        list of dict
        """
        return [r for r in self.rows if r["flagged"]]

    def to_markdown(self) -> str:
        """The change log as Markdown: a summary, then one table row per level.

        Returns
        -------
        str
        """
        b = self.base_rate
        lines = [f"# Model changes: {self.old_label} -> {self.new_label}", "",
                 f"- Base rate (exp(intercept)): {b['old']:.6g} -> {b['new']:.6g} ({_pct(b['change'])})",
                 f"- Factors added: {', '.join(self.factors_added) or 'none'}",
                 f"- Factors dropped: {', '.join(self.factors_dropped) or 'none'}",
                 f"- Levels flagged (change beyond {self.threshold:.1%}, added or dropped): "
                 f"{len(self.flagged)} of {len(self.rows)}"]
        if self.rebased:
            lines.append(f"- New relativities restated at the old base level for: {', '.join(self.rebased)}")
        lines += ["", "| Factor | Level | Old | New | Change | Status | Flag |",
                  "|---|---|---:|---:|---:|---|---|"]
        for r in self.rows:
            cells = [_md(r["factor"]), _md(r["level"]), _num(r["old"]), _num(r["new"]),
                     _pct(r["change"]), r["status"], "**!**" if r["flagged"] else ""]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def csv_rows(self) -> list[list]:
        """Header and rows of the CSV form, the base rate first as ``(intercept)``.

        Returns
        -------
        list of list
            Text cells unquoted; numbers in shortest round-trip form, empty when absent.
        """
        b = self.base_rate
        status = "changed" if b["change"] else "unchanged"
        out = [_CSV_HEADER, ["(intercept)", "", repr(b["old"]), repr(b["new"]), repr(b["change"]), status,
                             str(abs(b["change"]) > self.threshold)]]
        for r in self.rows:
            out.append([r["factor"], r["level"], _raw(r["old"]), _raw(r["new"]), _raw(r["change"]),
                        r["status"], str(r["flagged"])])
        return out

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The change log as CSV (columns Factor, Level, Old, New, Change, Status, Flagged).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Also write it there, whole or not at all.  Text a spreadsheet
            would run as a formula gets a leading ``'``.

        Returns
        -------
        str

        Raises
        ------
        OSError
            If ``path`` cannot be written; an existing file is then left as it was.
        """
        from .scoring._files import spreadsheet_safe, write_csv

        rows = self.csv_rows()
        if path is not None:
            write_csv(path, rows[0], rows[1:])
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for row in rows:
            writer.writerow([spreadsheet_safe(c) for c in row])
        return buf.getvalue()


def _raw(value) -> str:
    return "" if value is None else repr(value)


def _num(value) -> str:
    return "" if value is None else f"{value:.4f}"


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:+.1f}%"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _model(value, name: str):
    from .scoring import ScoringModel, load_model

    if isinstance(value, ScoringModel):
        return value
    if isinstance(value, (str, os.PathLike)):
        return load_model(value)
    raise TypeError(f"{name} must be a ScoringModel or the path of a model file, got {type(value).__name__}")


def _relativities(model) -> tuple[dict, dict, float]:
    """``{input: {level: relativity}}``, ``{factor: base level}`` and the base rate of a model."""
    table: dict = {}
    rows = model.factor_table(include_base=True)
    for row in rows[1:]:
        table.setdefault(row["Factor"], {})[row["Level"]] = row["Relativity"]
    bases = {s["name"]: s["base_level"] for s in model.document["inputs"] if s["kind"] == "factor"}
    return table, bases, rows[0]["Relativity"]


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold must be a number, got {threshold!r}")
    if not (math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a finite number >= 0 (0.05 flags changes beyond 5%), "
                         f"got {threshold!r}")
    return float(threshold)


def _used(levels: dict | None) -> bool:
    return levels is not None and any(v != 1.0 for v in levels.values())


def diff_models(old, new, *, threshold: float = 0.05) -> ModelDiff:
    """Compare the relativities of two models level by level.

    Parameters
    ----------
    old, new : ScoringModel or str or os.PathLike
        The models (or their files) before and after the change.
    threshold : float, default=0.05
        Flag levels whose relativity changes by more than this fraction
        (0.05: beyond +-5%).

    Returns
    -------
    ModelDiff
        Levels in the old model's order, then levels and factors only the
        new model has.

    Raises
    ------
    TypeError
        If a model is neither a ScoringModel nor a path, or ``threshold`` is not a number.
    ValueError
        If ``threshold`` is negative or not finite.
    ModelFileError
        If a file does not load.
    """
    threshold = _check_threshold(threshold)
    old_m, new_m = _model(old, "old"), _model(new, "new")
    old_t, old_b, old_rate = _relativities(old_m)
    new_t, new_b, new_rate = _relativities(new_m)
    rebased = []
    for factor, base in old_b.items():
        levels = new_t.get(factor)
        if factor in new_b and new_b[factor] != base and levels and base in levels:
            # restate at the old base: relativities / rel(old base), base rate * rel(old base)
            scale = levels[base]
            new_t[factor] = {lv: v / scale for lv, v in levels.items()}
            new_rate *= scale
            rebased.append(factor)
    rows = []
    for factor in list(old_t) + [f for f in new_t if f not in old_t]:
        o, n = old_t.get(factor), new_t.get(factor)
        whole = "factor added" if not _used(o) and _used(n) else \
            "factor dropped" if _used(o) and not _used(n) else None
        for level in list(o or {}) + [lv for lv in (n or {}) if lv not in (o or {})]:
            a, b = (o or {}).get(level), (n or {}).get(level)
            change = None if a is None or b is None else b / a - 1.0
            status = whole or ("level added" if a is None else "level dropped" if b is None else
                               "changed" if change != 0.0 else "unchanged")
            flagged = change is None or abs(change) > threshold or whole is not None
            rows.append({"factor": factor, "level": level, "old": a, "new": b, "change": change,
                         "status": status, "flagged": bool(flagged)})
    added = tuple(f for f in new_t if _used(new_t[f]) and not _used(old_t.get(f)))
    dropped = tuple(f for f in old_t if _used(old_t[f]) and not _used(new_t.get(f)))
    return ModelDiff(old_label=f"{old_m.model_id} version {old_m.version}",
                     new_label=f"{new_m.model_id} version {new_m.version}", threshold=threshold,
                     base_rate={"old": old_rate, "new": new_rate, "change": new_rate / old_rate - 1.0},
                     rows=tuple(rows), factors_added=added, factors_dropped=dropped, rebased=tuple(rebased))
