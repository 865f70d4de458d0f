"""Factor tables for rating engines: relativities, optional standard errors and intervals, checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist

import numpy as np

from ._engine import Engine
from ._inputs import read_table
from ._interaction_terms import interaction_entries
from ._levels import as_array, level_key, sort_levels

__all__ = ["BASIC_HEADER", "SE_HEADER", "check_policies", "factor_rows", "rename_map"]

BASIC_HEADER = ["Factor", "Level", "Relativity"]
SE_HEADER = BASIC_HEADER + ["SE", "LowerCI", "UpperCI"]
INTERCEPT = "(intercept)"


def rename_map(engine: Engine, names: Mapping | None) -> dict:
    """Input name to the name written, checked.

    Parameters
    ----------
    engine : Engine
    names : mapping or None
        Some input names to the names a rating engine expects.

    Returns
    -------
    dict

    Raises
    ------
    TypeError, ValueError
        For a mapping of non-strings, an input the model lacks, or two inputs given the same name.
    """
    inputs = [t.name for t in engine.terms]
    if names is None:
        return {n: n for n in inputs}
    if not isinstance(names, Mapping):
        raise TypeError(f"names must be a mapping of input name to new name, got {type(names).__name__}")
    for old, new in names.items():
        if not isinstance(old, str) or not isinstance(new, str) or not new:
            raise TypeError(f"names must map strings to non-empty strings, got {old!r}: {new!r}")
    unknown = [k for k in names if k not in inputs]
    if unknown:
        raise ValueError(f"names: {unknown} are not inputs of the model (inputs: {inputs})")
    out = {n: names.get(n, n) for n in inputs}
    seen: dict = {}
    for old, new in out.items():
        if new in seen or new == INTERCEPT:
            raise ValueError(f"names: {old!r} and {seen.get(new, INTERCEPT)!r} would both be written "
                             f"as {new!r}")
        seen[new] = old
    return out


def _standard_errors(engine: Engine, standard_errors) -> dict | None:
    if standard_errors is None:
        return None
    if hasattr(standard_errors, "to_dict"):  # a pandas Series such as coef_table["se"]
        standard_errors = standard_errors.to_dict()
    if not isinstance(standard_errors, Mapping):
        raise TypeError("standard_errors must be a mapping of feature name to standard error, "
                        f"got {type(standard_errors).__name__}")
    out = {}
    for key in ("intercept",) + tuple(engine.feature_names):
        if key not in standard_errors:
            if key == "intercept":
                continue
            raise ValueError(f"standard_errors lacks the feature {key!r} (it needs every feature "
                             f"of the model, e.g. coef_table['se'])")
        value = standard_errors[key]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise TypeError(f"standard_errors[{key!r}] must be a number, got {value!r}")
        value = float(value)
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"standard_errors[{key!r}] must be finite and >= 0, got {value!r}")
        out[key] = value
    return out


def _z(confidence_level) -> float:
    if isinstance(confidence_level, (bool, np.bool_)) or not isinstance(confidence_level, (int, float)):
        raise TypeError(f"confidence_level must be a number in (0, 1), got {confidence_level!r}")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level!r}")
    return NormalDist().inv_cdf(0.5 + confidence_level / 2)


def _check_decimals(decimals) -> None:
    if decimals is None:
        return
    if isinstance(decimals, (bool, np.bool_)) or not isinstance(decimals, (int, np.integer)):
        raise TypeError(f"decimals must be an integer, got {decimals!r}")
    if not 0 <= decimals <= 15:
        raise ValueError(f"decimals must be between 0 and 15, got {decimals!r}")


def _table_levels(term) -> list:
    """Levels of a factor's rows: merged levels too, in natural order, the missing level last."""
    if not term.merged:
        return list(term.levels)
    named = [lv for lv in list(term.levels) + list(term.merged) if lv != term.missing]
    return sort_levels(named) + ([term.missing] if term.missing in term.levels else [])


def factor_rows(engine: Engine, *, include_base: bool, standard_errors, confidence_level,
                decimals, names: dict) -> list[dict]:
    """The rows of :meth:`ScoringModel.factor_table` (see there for the arguments).

    Parameters
    ----------
    engine : Engine
    include_base : bool
    standard_errors : mapping or None
    confidence_level : float
    decimals : int or None
    names : dict
        From :func:`rename_map`.

    Returns
    -------
    list of dict
    """
    se = _standard_errors(engine, standard_errors)
    z = _z(confidence_level) if se is not None else 0.0
    _check_decimals(decimals)
    # (factor, level, link, feature or None)
    entries = []
    if include_base:
        entries.append((INTERCEPT, "", engine.intercept, "intercept"))
    for term in engine.terms:
        if term.kind == "factor":
            feature = {int(c): engine.feature_names[p] for p, c in zip(term.block, term.block_codes)}
            entries += [(names[term.name], lv, float(term.table[term.index[lv]]), feature.get(term.index[lv]))
                        for lv in _table_levels(term)]
        elif term.kind == "interaction":
            entries += interaction_entries(term, engine.feature_names, names[term.name])
        else:
            entries.append((names[term.name], "per unit", term.coef, term.feature))
    rows = []
    for factor, level, link, feature in entries:
        row = {"Factor": factor, "Level": level, "Relativity": math.exp(link)}
        if se is not None:
            s = 0.0 if feature is None else se.get(feature, 0.0)
            row.update(SE=s, LowerCI=math.exp(link - z * s), UpperCI=math.exp(link + z * s))
        if decimals is not None:
            row.update({k: round(v, decimals) for k, v in row.items() if isinstance(v, float)})
        rows.append(row)
    if se is not None and include_base and "intercept" not in se:
        rows[0].update(SE="", LowerCI="", UpperCI="")  # no intercept SE given: leave the cells empty
    return rows


def check_policies(engine: Engine, policies, names: dict) -> None:
    """Refuse a table that lacks a level found in ``policies``.

    Parameters
    ----------
    engine : Engine
    policies : records or DataFrame
        Policies the rating engine will price; a factor column may use the
        model's input name or its new name in ``names``.
    names : dict
        From :func:`rename_map`.

    Raises
    ------
    ValueError
        Naming every factor level (or missing value) of ``policies`` not in the
        table, or when ``policies`` holds none of the model's factors.
    TypeError
        For policies that are not records.
    """
    layout, table, n = read_table(policies, engine.feature_names) if policies is not None else (None, {}, 0)
    if layout != "columns":
        raise TypeError("policies must be records (a DataFrame, a list of dicts or a dict of columns), "
                        f"got {type(policies).__name__}")
    factors = [t for t in engine.terms if t.kind == "factor"]
    found, problems = 0, []
    for term in factors:
        column = term.name if term.name in table else names[term.name]
        if column not in table:
            continue
        found += 1
        values = table[column]
        codes = term.codes(values)
        if (codes == -2).any():
            problems.append(f"{column}: {int((codes == -2).sum())} missing value(s)")
        unseen = codes == -1
        if unseen.any():
            arr = as_array(values).astype(object)
            levels = sorted({level_key(v) for v in arr[unseen].tolist()})
            more = f" and {len(levels) - 20} more" if len(levels) > 20 else ""
            shown = ", ".join(map(repr, levels[:20])) + more
            problems.append(f"{column}: level(s) {shown}")
    if factors and not found:
        raise ValueError(f"policies hold none of the model's factors {[names[t.name] for t in factors]} "
                         f"(columns: {list(table)[:20]})")
    if problems:
        raise ValueError("policies: the factor table lacks levels the policies use, so a rating engine "
                         "could not price them: " + "; ".join(problems))
