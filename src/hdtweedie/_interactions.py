"""Two-way interactions of FactorEncoder: factor x factor cells and factor x numeric slopes.

An interaction ``(a, b)`` is named ``"a:b"`` and forms one group (its feature
names are ``"a:b=..."``, so ``groups="factor"`` reads the group from them).

* factor x factor: one 0/1 column per cell ``(i, j)`` where neither level is
  its factor's base level; cells on a base level have no column, so the main
  effects stay identifiable.  Features ``"a:b=i:j"``.
* factor x numeric: one column per non-base level of the factor, holding the
  numeric value on rows at that level (a level's extra slope; the base
  level's is 0 and the main slope stays).  Features ``"a:b=i"``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INTERACTION_SEPARATOR", "check_interactions", "interaction_columns", "interaction_features",
           "interaction_specs"]

INTERACTION_SEPARATOR = ":"


def _pair(item, names: list) -> tuple[str, str]:
    if not isinstance(item, (list, tuple, np.ndarray)) or len(item) != 2:
        raise ValueError(f"interactions: each interaction must be a pair of column names, got {item!r}")
    a, b = (str(c) for c in item)
    for c in (a, b):
        if c not in names:
            raise ValueError(f"interactions: {item!r} names {c!r}, which is not a column of X; "
                             f"columns are {names}")
    if a == b:
        raise ValueError(f"interactions: {item!r} pairs the column {a!r} with itself")
    return a, b


def check_interactions(interactions, names: list, factors: list) -> list[tuple[str, str]]:
    """The interactions requested, checked against the columns of X.

    Parameters
    ----------
    interactions : None or sequence of pairs of str
        The encoder's ``interactions`` argument.
    names : list of str
        Columns of X.
    factors : list of str
        The columns that are rating factors.

    Returns
    -------
    list of (str, str)

    Raises
    ------
    ValueError
        For an unknown column, a column paired with itself, two numeric
        columns, a pair given twice, or a name that collides with a column.
    """
    if interactions is None:
        return []
    if isinstance(interactions, (str, bytes)) or not hasattr(interactions, "__iter__"):
        raise ValueError(f"interactions must be a list of pairs of column names, got {interactions!r}")
    out, seen = [], set()
    for item in interactions:
        a, b = _pair(item, names)
        if a not in factors and b not in factors:
            raise ValueError(f"interactions: {item!r} pairs two numeric columns; an interaction needs "
                             f"at least one rating factor (factors are {factors})")
        if frozenset((a, b)) in seen:
            raise ValueError(f"interactions: {item!r} is given twice")
        seen.add(frozenset((a, b)))
        name = a + INTERACTION_SEPARATOR + b
        if name in names:
            raise ValueError(f"interactions: the interaction name {name!r} is also a column of X")
        out.append((a, b))
    return out


def _cells(enc, a: str, b: str) -> list[tuple]:
    """``(feature, level of a, level of b or None)`` per output column of an interaction."""
    name = a + INTERACTION_SEPARATOR + b
    base_a = enc.base_levels_.get(a)
    if b in enc.levels_ and a in enc.levels_:
        base_b = enc.base_levels_[b]
        return [(f"{name}={la}{INTERACTION_SEPARATOR}{lb}", la, lb)
                for la in enc.levels_[a] if la != base_a for lb in enc.levels_[b] if lb != base_b]
    factor = a if a in enc.levels_ else b
    base = enc.base_levels_[factor]
    return [(f"{name}={lv}", lv, None) for lv in enc.levels_[factor] if lv != base]


def interaction_features(enc) -> tuple[list[str], list[str]]:
    """Output column names and group labels of the fitted encoder's interactions.

    Parameters
    ----------
    enc : FactorEncoder
        Fitted, with ``interactions_`` set.

    Returns
    -------
    tuple of (list of str, list of str)
    """
    names, groups = [], []
    for a, b in getattr(enc, "interactions_", ()):
        cells = _cells(enc, a, b)
        names += [c[0] for c in cells]
        groups += [a + INTERACTION_SEPARATOR + b] * len(cells)
    return names, groups


def interaction_columns(enc, codes: dict, numeric: dict, pos: int) -> tuple[list, int]:
    """Sparse triplets ``(rows, cols, values)`` of the interaction columns, from column ``pos`` on.

    Parameters
    ----------
    enc : FactorEncoder
    codes : dict
        Factor name to its level codes (indices into ``enc.levels_``), unseen levels already mapped.
    numeric : dict
        Numeric input name to its values.
    pos : int
        Output column of the first interaction column.

    Returns
    -------
    tuple of (list of (rows, cols, values), int)
        The triplets and the next free column.
    """
    parts = []
    for a, b in getattr(enc, "interactions_", ()):
        if a in enc.levels_ and b in enc.levels_:
            n_a, n_b = len(enc.levels_[a]), len(enc.levels_[b])
            col_of = np.full((n_a, n_b), -1, dtype=np.intp)
            keep = np.ones((n_a, n_b), dtype=bool)
            keep[enc.levels_[a].index(enc.base_levels_[a]), :] = False
            keep[:, enc.levels_[b].index(enc.base_levels_[b])] = False
            k = int(keep.sum())
            col_of[keep] = pos + np.arange(k)  # row-major: the order of _cells
            target = col_of[codes[a], codes[b]]
            values = np.ones(target.shape[0])
        else:
            factor, x = (a, numeric[b]) if a in enc.levels_ else (b, numeric[a])
            levels = enc.levels_[factor]
            col_of = np.full(len(levels), -1, dtype=np.intp)
            others = [i for i, lv in enumerate(levels) if lv != enc.base_levels_[factor]]
            k = len(others)
            col_of[others] = pos + np.arange(k)
            target = np.where(x != 0, col_of[codes[factor]], -1)  # zeros need no entry
            values = x
        hit = np.flatnonzero(target >= 0)
        parts.append((hit, target[hit], values[hit]))
        pos += k
    return parts, pos


def interaction_specs(enc) -> list[dict]:
    """Model-file inputs of kind ``"interaction"`` (see schema/model.schema.json).

    Parameters
    ----------
    enc : FactorEncoder
        Fitted.

    Returns
    -------
    list of dict
    """
    specs = []
    for a, b in getattr(enc, "interactions_", ()):
        features: dict = {}
        for feature, la, lb in _cells(enc, a, b):
            if lb is None:
                features[la] = feature
            else:
                features.setdefault(la, {})[lb] = feature
        specs.append({"kind": "interaction", "name": a + INTERACTION_SEPARATOR + b, "of": [a, b],
                      "features": features})
    return specs
