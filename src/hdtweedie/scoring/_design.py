"""Records to the model's design matrix, with the encoding :meth:`ScoringModel.predict` uses."""

from __future__ import annotations

import numpy as np

from ._engine import Engine
from ._inputs import read_table
from ._levels import as_array, as_numeric, level_key

__all__ = ["design_matrix"]


def _rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    listed = ", ".join(str(int(r)) for r in rows[:5])
    return f"{rows.size} row(s) ({listed}{', ...' if rows.size > 5 else ''})"


def _factor_columns(term, values, unknown: str | None, X: np.ndarray) -> int:
    """Fill the one-hot columns of ``term``; return the number of rows scored at the base level."""
    codes = term.codes(values)
    missing, unseen = codes == -2, codes == -1
    if missing.any():
        raise ValueError(f"X: input {term.name!r} has a missing value at {_rows(missing)}")
    if unseen.any():
        raw = as_array(values)[unseen][:1000].tolist()
        examples = sorted({str(level_key(v)) for v in raw})[:5]
        if (unknown or term.handle_unknown) != "base":
            raise ValueError(f"X: input {term.name!r} has level(s) not seen in training {examples} at "
                             f"{_rows(unseen)} (pass unknown='base' to encode them as the base level)")
    for pos, code in zip(term.block, term.block_codes):
        X[:, pos] = codes == code
    return int(unseen.sum())


def design_matrix(engine: Engine, data, unknown: str | None = None) -> tuple[np.ndarray, int]:
    """The design matrix of ``data`` and the number of unseen levels encoded as base.

    Parameters
    ----------
    engine : Engine
        The model's terms.
    data : records, columns or design matrix
        As for :meth:`ScoringModel.predict`; every input must be given.
    unknown : {None, "error", "base"}
        Treatment of unseen levels (``None``: the policy in the file).

    Returns
    -------
    tuple of (numpy.ndarray, int)

    Raises
    ------
    ValueError
        For a missing input, a missing or non-finite value, or an unseen
        level under ``"error"``, naming the input and the rows.
    TypeError
        For data of the wrong type.
    """
    if unknown not in (None, "error", "base"):
        raise ValueError(f"unknown must be None, 'error' or 'base', got {unknown!r}")
    names = engine.feature_names
    layout, table, n = read_table(data, names)
    encoded = all(f in table for f in names)
    if layout == "columns" and encoded and any(t.name not in table for t in engine.terms
                                                if t.kind != "interaction"):
        table = np.column_stack([as_numeric(table[f], f) for f in names]) if n else np.zeros((0, len(names)))
        layout = "design"
    if layout == "design":
        X = np.array(table, dtype=np.float64)
        bad = ~np.isfinite(X).all(axis=1)
        if bad.any():
            raise ValueError(f"X: the design matrix has NaN or infinite entries at {_rows(bad)}")
        return X, 0
    inputs = [t.name for t in engine.terms if t.kind != "interaction"]
    missing = [name for name in inputs if name not in table]
    if missing:
        raise ValueError(f"X: records lack the input(s) {missing}; a design matrix needs every input "
                         f"{inputs}")
    X = np.zeros((n, len(names)))
    based = 0
    for term in engine.terms:
        if term.kind == "interaction":  # after its parents, whose values are checked
            term.design_columns(engine.terms, table, X)
            continue
        if term.kind == "factor":
            based += _factor_columns(term, table[term.name], unknown, X)
            continue
        x = as_numeric(table[term.name], term.name)
        bad = ~np.isfinite(x)
        if bad.any():
            raise ValueError(f"X: input {term.name!r} has a missing, NaN or infinite value at {_rows(bad)}")
        X[:, term.pos] = x
    return X, based
