"""Interactions in the scorer: the file's checks, the term, and its columns of a design matrix.

A model-file input ``{"kind": "interaction", "name": "a:b", "of": [a, b],
"features": ...}`` follows its two parents in ``inputs``.  Two factors:
``features[level_a][level_b]`` names the cell's 0/1 column (cells on a base
level have none).  A factor and a numeric input: ``features[level]`` names
the column holding the numeric value at that level (the level's extra slope).
"""

from __future__ import annotations

import numpy as np

from ._engine import ReadOnly, _frozen
from ._levels import as_numeric

__all__ = ["InteractionTerm", "interaction_entries", "interaction_features", "interaction_link_bound",
           "interaction_problems"]

CELL_SEPARATOR = ":"


def _parents(spec: dict, earlier: dict) -> tuple:
    """The parents' specs in ``of`` order, and the position of the numeric one (or None)."""
    a, b = (earlier[n] for n in spec["of"])
    numeric = None if a["kind"] == b["kind"] == "factor" else (0 if a["kind"] == "numeric" else 1)
    return (a, b), numeric


def interaction_problems(spec: dict, earlier: dict) -> list[str]:
    """What is wrong with an interaction input of a model file (empty when nothing).

    Parameters
    ----------
    spec : dict
        The interaction's entry of ``inputs``.
    earlier : dict
        Name to spec of the inputs listed before it.

    Returns
    -------
    list of str
    """
    label = f"interaction {spec['name']!r}"
    of = spec["of"]
    if of[0] == of[1]:
        return [f"{label}: pairs {of[0]!r} with itself"]
    absent = [n for n in of if n not in earlier or earlier[n]["kind"] == "interaction"]
    if absent:
        return [f"{label}: its parents {absent} are not factors or numeric inputs listed before it"]
    (a, b), numeric = _parents(spec, earlier)
    if a["kind"] == b["kind"] == "numeric":
        return [f"{label}: pairs two numeric inputs"]
    features = spec["features"]
    factor = b if numeric == 0 else a
    expected = {lv for lv in factor["levels"] if lv != factor["base_level"]}
    if set(features) != expected:
        return [f"{label}: features must map every non-base level of {factor['name']!r}"]
    if numeric is not None:
        if any(not isinstance(v, str) for v in features.values()):
            return [f"{label}: features must map each level to one feature name"]
        return []
    inner = {lv for lv in b["levels"] if lv != b["base_level"]}
    if any(not isinstance(v, dict) or set(v) != inner for v in features.values()):
        return [f"{label}: features must map every non-base level of {a['name']!r} to every "
                f"non-base level of {b['name']!r}"]
    return []


def interaction_features(spec: dict) -> list[str]:
    """Feature names an interaction input uses.

    Parameters
    ----------
    spec : dict

    Returns
    -------
    list of str
    """
    out = []
    for value in spec["features"].values():
        out += list(value.values()) if isinstance(value, dict) else [value]
    return out


def interaction_link_bound(spec: dict, earlier: dict, coefs: dict) -> float:
    """Largest link contribution of a checked interaction over its cells and numeric range.

    Parameters
    ----------
    spec : dict
    earlier : dict
        Name to spec of the inputs listed before it.
    coefs : dict
        Feature to coefficient.

    Returns
    -------
    float
        0 when the numeric input's range is unknown.
    """
    (a, b), numeric = _parents(spec, earlier)
    if numeric is None:
        return max([0.0] + [float(coefs[f]) for f in interaction_features(spec)])
    x = (a, b)[numeric]
    if x["min"] is None or x["max"] is None:
        return 0.0  # no known range to bound over, as for a numeric input
    slopes = [float(coefs[f]) for f in interaction_features(spec)]
    return max([0.0] + [s * v for s in slopes for v in (x["min"], x["max"])])


class InteractionTerm(ReadOnly):
    """A two-way interaction: cell effects of two factors, or a factor's extra slopes of a numeric input.

    Parameters
    ----------
    spec, feature_pos, coef
        As for :class:`~hdtweedie.scoring._engine.FactorTerm`; ``spec`` is the interaction's entry.
    earlier : list
        The terms built before it (its parents are among them).  Parents of
        an interaction with effect are marked used, so records must give them
        and their values are checked.
    """

    __slots__ = ("name", "of", "parents", "numeric", "levels", "table", "block", "block_codes", "used")
    kind = "interaction"

    def __init__(self, spec: dict, feature_pos: dict, coef: np.ndarray, earlier: list):
        where = {t.name: k for k, t in enumerate(earlier)}
        parents = tuple(where[n] for n in spec["of"])
        a, b = (earlier[k] for k in parents)
        numeric = None if a.kind == b.kind == "factor" else (0 if a.kind == "numeric" else 1)
        block, block_codes = [], []
        if numeric is None:
            table = np.zeros((len(a.levels), len(b.levels)))
            levels = tuple(f"{la}{CELL_SEPARATOR}{lb}" for la in a.levels for lb in b.levels)
            for la, row in spec["features"].items():
                for lb, feat in row.items():
                    table[a.index[la], b.index[lb]] = coef[feature_pos[feat]]
                    block.append(feature_pos[feat])
                    block_codes.append(a.index[la] * len(b.levels) + b.index[lb])
        else:
            factor = b if numeric == 0 else a
            table = np.zeros(len(factor.levels))
            levels = factor.levels
            for lv, feat in spec["features"].items():
                table[factor.index[lv]] = coef[feature_pos[feat]]
                block.append(feature_pos[feat])
                block_codes.append(factor.index[lv])
        table.flags.writeable = False
        used = bool(np.any(table != 0.0))
        if used:
            for parent in (a, b):
                parent._freeze({"used": True})  # the interaction needs its parents' values
        self._freeze({"name": spec["name"], "of": tuple(spec["of"]), "parents": parents, "numeric": numeric,
                      "levels": levels, "table": table, "block": _frozen(block, np.intp),
                      "block_codes": _frozen(block_codes, np.intp), "used": used})

    def _codes_and_x(self, ev) -> tuple:
        """Level codes (cells, or the factor's levels) and numeric values from the parents' evaluation."""
        pa, pb = self.parents
        if self.numeric is None:
            n_b = self.table.shape[1]
            return ev.levels[pa] * n_b + ev.levels[pb], None
        pf, px = (pb, pa) if self.numeric == 0 else (pa, pb)
        return ev.levels[pf], ev.shown[px]

    def part(self, ev, j: int) -> np.ndarray:
        """Link contribution per row of records, from its parents' entries in ``ev``.

        Parameters
        ----------
        ev : Evaluation
            With the parents already evaluated.
        j : int
            Position of this term.

        Returns
        -------
        numpy.ndarray
        """
        codes, x = self._codes_and_x(ev)
        ev.levels[j] = codes
        if x is None:
            ev.shown[j] = np.array(self.levels, dtype=object)[codes]
            return self.table.reshape(-1)[codes]
        ev.shown[j] = x
        if not self.used:
            return np.zeros(codes.shape[0])
        x = np.asarray(x, dtype=np.float64)
        part = self.table[codes] * np.where(np.isfinite(x), x, 0.0)  # the parent flags NaN and inf
        return part

    def explain_design(self, X: np.ndarray, coef: np.ndarray, ev, j: int) -> None:
        """Contribution, levels and values of design rows, for explain.

        Parameters
        ----------
        X : numpy.ndarray
            Design rows (finite).
        coef : numpy.ndarray
        ev : Evaluation
            Keeping contributions, with the parents already filled.
        j : int
        """
        codes, x = self._codes_and_x(ev)
        ev.levels[j] = codes
        ev.shown[j] = np.array(self.levels, dtype=object)[codes] if x is None else x
        if self.block.size:
            ev.contrib[:, j] = X[:, self.block] @ coef[self.block]

    def design_columns(self, terms: tuple, table: dict, X: np.ndarray) -> None:
        """Fill this interaction's columns of a design matrix from checked records.

        Parameters
        ----------
        terms : tuple
            The engine's terms.
        table : dict
            Input name to values; the parents' values were checked (and unseen
            levels allowed) when their own columns were filled.
        X : numpy.ndarray
        """
        values = []
        for k in self.parents:
            parent = terms[k]
            raw = table[parent.name]
            if parent.kind == "factor":
                codes = parent.codes(raw)  # through its bands, merges and missing level
                values.append(np.where(codes < 0, parent.base_code, codes))
            else:
                values.append(as_numeric(raw, parent.name))
        if self.numeric is None:
            cells = values[0] * self.table.shape[1] + values[1]
            for pos, code in zip(self.block, self.block_codes):
                X[:, pos] = cells == code
            return
        codes, x = (values[1], values[0]) if self.numeric == 0 else values
        for pos, code in zip(self.block, self.block_codes):
            X[:, pos] = np.where(codes == code, x, 0.0)


def interaction_entries(term: InteractionTerm, feature_names: tuple, label: str) -> list[tuple]:
    """Flat factor-table entries ``(factor, level, link, feature or None)`` of an interaction.

    Factor x factor: one per cell ``"i:j"`` (base cells have link 0).  Factor x
    numeric: one ``"i per unit"`` per level of the factor.

    Parameters
    ----------
    term : InteractionTerm
    feature_names : tuple of str
    label : str
        Name written for the interaction.

    Returns
    -------
    list of tuple
    """
    feature = {int(c): feature_names[p] for p, c in zip(term.block, term.block_codes)}
    flat = term.table.reshape(-1)
    suffix = "" if term.numeric is None else " per unit"
    return [(label, f"{lv}{suffix}", float(flat[i]), feature.get(i)) for i, lv in enumerate(term.levels)]
