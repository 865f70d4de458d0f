"""Two-way tables of an interaction's relativities, and their CSV and JSON files."""

from __future__ import annotations

import json
import math
import os

from ._engine import Engine
from ._files import write_csv, write_shared

__all__ = ["VIEWS", "interaction_grid", "write_grid"]

VIEWS = ("interaction", "combined")
PER_UNIT = "per unit"


def _term(engine: Engine, name: object):
    found = [t for t in engine.terms if t.kind == "interaction"]
    for term in found:
        if term.name == name:
            return term
    if not isinstance(name, str):
        raise TypeError(f"name must be the name of an interaction, got {type(name).__name__} {name!r}")
    raise ValueError(f"name: the model has no interaction {name!r}; its interactions are "
                     f"{[t.name for t in found]}")


def interaction_grid(engine: Engine, name: str, view: str = "interaction",
                     decimals: int | None = None) -> dict:
    """Relativities of an interaction as a two-way table.

    Parameters
    ----------
    engine : Engine
    name : str
        The interaction, ``"a:b"``.
    view : {"interaction", "combined"}
        ``"interaction"``: the interaction's own relativity per cell (1 on
        base cells).  ``"combined"``: the product with the main effects, the
        relativity of the cell against the base levels of both factors.  For
        a factor x numeric interaction the one column is per unit of the
        numeric input: ``exp(slope of the level)``, or combined
        ``exp(main slope + slope of the level)``.
    decimals : int, optional
        Round the relativities (0 to 15).

    Returns
    -------
    dict
        ``interaction``, ``view``, ``rows`` and ``columns`` (input names),
        ``row_levels``, ``column_levels`` and ``relativities`` (one list per
        row level).

    Raises
    ------
    ValueError, TypeError
        For an unknown interaction, view or ``decimals``.
    """
    term = _term(engine, name)
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int)
                                 or not 0 <= decimals <= 15):
        raise ValueError(f"decimals must be an integer from 0 to 15, got {decimals!r}")
    parents = [engine.terms[k] for k in term.parents]
    if term.numeric is None:
        rows, cols = parents
        link = term.table.copy()
        if view == "combined":
            link += rows.table[:, None] + cols.table[None, :]
        column_levels = list(cols.levels)
    else:
        rows, cols = (parents[1], parents[0]) if term.numeric == 0 else parents
        link = term.table[:, None] + (cols.coef if view == "combined" else 0.0)
        column_levels = [PER_UNIT]
    grid = [[math.exp(v) for v in line] for line in link.tolist()]
    if decimals is not None:
        grid = [[round(v, decimals) for v in line] for line in grid]
    return {"interaction": term.name, "view": view, "rows": rows.name, "columns": cols.name,
            "row_levels": list(rows.levels), "column_levels": column_levels, "relativities": grid}


def write_grid(path: str | os.PathLike, grid: dict) -> None:
    """Write a table of :func:`interaction_grid`: JSON for a ``.json`` path, CSV otherwise.

    The CSV's first row is ``"rows \\ columns"`` and the column levels; each
    further row a row level and its relativities (shortest round-trip text).

    Parameters
    ----------
    path : str or os.PathLike
    grid : dict

    Raises
    ------
    OSError
        If the file cannot be written; an existing file is then left as it was.
    """
    if os.fspath(path).lower().endswith(".json"):
        write_shared(path, json.dumps(grid, indent=2, allow_nan=False, ensure_ascii=True) + "\n")
        return
    header = [f"{grid['rows']} \\ {grid['columns']}"] + grid["column_levels"]
    write_csv(path, header, ([level] + [repr(v) for v in line]
                             for level, line in zip(grid["row_levels"], grid["relativities"])))
