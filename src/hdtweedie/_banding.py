"""Fit-time structure of a rating factor: numeric bands, a missing-value level, sparse levels merged.

The scorer reads the result from the model file through
:func:`hdtweedie.scoring._bands.factor_codes`; this module only decides it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .scoring._bands import band_codes, band_labels, check_edges
from .scoring._levels import is_missing, level_key, sort_levels

__all__ = ["Layout", "band_layout", "base_of", "check_bands", "check_factor_options", "is_ordered",
           "merge_sparse", "per_factor"]


@dataclass
class Layout:
    """The levels of one factor and the level code of each training row.

    Attributes
    ----------
    levels : list of str
        Levels in order (bands by edge, then any missing-value level).
    codes : numpy.ndarray of intp
        Level of each row (``-2`` for a missing value without a missing level).
    edges : list of float or None
        Band edges of a banded factor.
    ordered : bool
        Whether adjacent levels are neighbours (bands, numeric-like levels).
    merged : dict
        Level merged away to the level that holds it now.
    """

    levels: list
    codes: np.ndarray
    edges: list | None = None
    ordered: bool = False
    merged: dict | None = None


def per_factor(value: object, label: str, names: list, check: Callable[[object, str], object]) -> dict:
    """``{column: checked value}``: one value for every column in ``names``, or a dict of them.

    Parameters
    ----------
    value : object or dict
        ``None`` (no column), one value for every column, or ``{column: value}``.
    label : str
        Name of the argument, for messages.
    names : list of str
        Columns it may name.
    check : callable
        ``check(value, label)`` returns the value to use or raises naming ``label``.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        For a dict naming a column that is not in ``names``; ``check`` raises for bad values.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        checked = check(value, label)
        return {name: checked for name in names}
    unknown = [k for k in value if str(k) not in names]
    if unknown:
        raise ValueError(f"{label} names {unknown}, which are not among the columns it may name {names}")
    return {str(k): check(v, f"{label}[{str(k)!r}]") for k, v in value.items()}


def _band_rule(rule: object, label: str) -> tuple:
    """``("edges", list)`` or ``("quantiles", k)`` from edges, ``{"edges": ...}`` or ``{"quantiles": k}``."""
    if isinstance(rule, dict) and set(rule) == {"quantiles"}:
        k = rule["quantiles"]
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"{label}['quantiles'] must be an integer, got {k!r}")
        if k < 2:
            raise ValueError(f"{label}['quantiles'] must be at least 2, got {k!r}")
        return ("quantiles", int(k))
    if isinstance(rule, dict):
        if set(rule) != {"edges"}:
            raise ValueError(f"{label} must be a list of edges, {{'edges': [...]}} or "
                             f"{{'quantiles': k}}, got {rule!r}")
        rule = rule["edges"]
    return ("edges", check_edges(rule, label))


def _minimum_exposure(value: object, label: str) -> float:
    """A finite number >= 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{label} must be a number, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
    return float(value)


def _level_name(value: object, label: str) -> str:
    """A level to create: a non-empty string."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"{label} must be a non-empty string, got {value!r}")
    return value


def check_bands(bands: object, names: list) -> dict:
    """``{column: ("edges", list) or ("quantiles", k)}`` from the ``bands`` argument.

    Parameters
    ----------
    bands : dict or None
        ``{column: edges}``, ``{column: {"edges": edges}}`` or ``{column: {"quantiles": k}}``.
    names : list of str
        Columns of X.

    Returns
    -------
    dict of str to tuple
        The rule of each banded column.

    Raises
    ------
    TypeError, ValueError
        Naming the column whose banding cannot be used.
    """
    if bands is not None and not isinstance(bands, dict):
        raise TypeError(f"bands must be a dict {{column: edges or {{'quantiles': k}}}}, got "
                        f"{type(bands).__name__} {bands!r}")
    return per_factor(bands, "bands", names, _band_rule)


def check_factor_options(min_exposure: object, missing_level: object, other_level: object,
                         factors: list) -> tuple[dict, dict]:
    """``({factor: minimum exposure}, {factor: missing-value level})``, checked.

    Parameters
    ----------
    min_exposure, missing_level, other_level
        As for :class:`hdtweedie.FactorEncoder`.
    factors : list of str
        The rating factors.

    Returns
    -------
    tuple of (dict, dict)

    Raises
    ------
    TypeError, ValueError
        For a minimum that is not a finite number >= 0, a level that is not
        a non-empty string, or a dict naming a column that is not a factor.
    """
    _level_name(other_level, "other_level")
    return (per_factor(min_exposure, "min_exposure", factors, _minimum_exposure),
            per_factor(missing_level, "missing_level", factors, _level_name))


def _numbers(values: np.ndarray, name: str) -> np.ndarray:
    """A banded column as float64 (missing values NaN); text, booleans and infinities are refused."""
    label = f"bands[{name!r}]"
    if values.dtype.kind in "iuf":
        x = values.astype(np.float64)
    elif values.dtype.kind == "O":
        x = np.empty(values.shape[0])
        for i, v in enumerate(values.tolist()):
            if is_missing(v):
                x[i] = np.nan
            elif isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ValueError(f"{label}: column {name!r} must be numeric to be banded, "
                                 f"got {v!r} at row {i}")
            else:
                x[i] = float(v)
    else:
        raise ValueError(f"{label}: column {name!r} must be numeric to be banded, got dtype {values.dtype}")
    if np.isinf(x).any():
        raise ValueError(f"{label}: column {name!r} has infinite values")
    return x


def _quantile_edges(x: np.ndarray, w: np.ndarray, k: int, name: str) -> list:
    """Edges of ``k`` bands of about equal weight, at observed values (ties may give fewer bands)."""
    order = np.argsort(x, kind="stable")
    xs, cum = x[order], np.cumsum(w[order])
    if cum[-1] <= 0:  # no exposure at all: equal counts
        cum = np.arange(1, xs.size + 1, dtype=np.float64)
    targets = cum[-1] * np.arange(1, k) / k
    # each band ends just above the value where its share is reached: it holds at least that share
    distinct = np.unique(xs)
    reached = xs[np.minimum(np.searchsorted(cum, targets, side="left"), xs.size - 1)]
    after = np.searchsorted(distinct, reached, side="right")
    inner = distinct[after[after < distinct.size]]
    edges = np.unique(np.concatenate([[xs[0]], inner, [xs[-1]]]))
    if edges.size < 2:
        raise ValueError(f"bands[{name!r}]: column {name!r} has the single value {float(xs[0])!r}; "
                         "there is nothing to band")
    return edges.tolist()


def band_layout(values: np.ndarray, rule: tuple, weights: np.ndarray | None, name: str) -> Layout:
    """Band a numeric column by the given edges or by exposure-weighted quantiles.

    Parameters
    ----------
    values : numpy.ndarray
        The raw column.
    rule : tuple
        From :func:`check_bands`.
    weights : numpy.ndarray or None
        Exposure per row (``None``: one per row).
    name : str

    Returns
    -------
    Layout

    Raises
    ------
    ValueError
        For a column that is not numeric, has infinite values or (quantiles) only one value.
    """
    x = _numbers(values, name)
    finite = ~np.isnan(x)
    if not finite.any():
        raise ValueError(f"bands[{name!r}]: column {name!r} has no values to band")
    if rule[0] == "edges":
        edges = rule[1]
    else:
        w = np.ones(x.size) if weights is None else weights
        edges = _quantile_edges(x[finite], w[finite], rule[1], name)
    return Layout(band_labels(edges), band_codes(x, edges), edges=list(edges), ordered=True)


def _adjacent_groups(totals: list, minimum: float) -> list:
    """Runs of adjacent levels, merging the lightest run below ``minimum`` into its lighter neighbour."""
    groups = [[i] for i in range(len(totals))]
    weight = list(totals)
    while len(groups) > 1:
        light = [j for j in range(len(groups)) if weight[j] < minimum]
        if not light:
            break
        j = min(light, key=lambda i: weight[i])  # first lightest
        if j == 0:
            k = 1
        elif j == len(groups) - 1:
            k = j - 1
        else:
            k = j - 1 if weight[j - 1] <= weight[j + 1] else j + 1
        a, b = min(j, k), max(j, k)
        groups[a:b + 1] = [groups[a] + groups[b]]
        weight[a:b + 1] = [weight[a] + weight[b]]
    return groups


def merge_sparse(layout: Layout, totals: np.ndarray, minimum: float, other: str,
                 missing: str | None) -> Layout:
    """Merge levels whose exposure is below ``minimum``.

    Ordered factors merge a sparse level into its adjacent level (the lighter
    neighbour): bands lose the edge between them, other levels join the
    heaviest level of their run.  Unordered factors gather their sparse
    levels in the level ``other``.  The missing-value level is never merged.

    Parameters
    ----------
    layout : Layout
    totals : numpy.ndarray
        Exposure of each level.
    minimum : float
    other : str
        Level of the merged sparse levels of an unordered factor.
    missing : str or None
        The missing-value level, kept as it is.

    Returns
    -------
    Layout
        With ``merged`` set (empty when nothing was merged).
    """
    keep = [i for i, lv in enumerate(layout.levels) if lv != missing]
    edges = layout.edges
    if layout.ordered:
        runs = [[keep[i] for i in g] for g in _adjacent_groups([totals[i] for i in keep], minimum)]
        if all(len(r) == 1 for r in runs):
            layout.merged = {}
            return layout
        if edges is not None:
            edges = [edges[r[0]] for r in runs] + [edges[-1]]
            names = band_labels(edges)
        else:
            names = [layout.levels[max(r, key=lambda i: (totals[i], -i))] for r in runs]
    else:
        sparse = [i for i in keep if totals[i] < minimum]
        if not sparse:
            layout.merged = {}
            return layout
        runs = [[i] for i in keep if i not in sparse and layout.levels[i] != other]
        runs.append(sparse + [i for i in keep if layout.levels[i] == other and i not in sparse])
        names = [layout.levels[r[0]] for r in runs[:-1]] + [other]
    new_code = np.full(len(layout.levels), -2, dtype=np.intp)
    for code, run in enumerate(runs):
        new_code[run] = code
    levels = names if layout.ordered else sort_levels(names)
    if not layout.ordered:  # the sorted order: renumber
        position = {lv: i for i, lv in enumerate(levels)}
        new_code[new_code >= 0] = [position[names[c]] for c in new_code[new_code >= 0]]
    merged = {layout.levels[i]: levels[new_code[i]] for i in keep if layout.levels[i] != levels[new_code[i]]}
    if missing is not None and missing in layout.levels:
        new_code[layout.levels.index(missing)] = len(levels)
        levels = levels + [missing]
    codes = np.where(layout.codes >= 0, new_code[np.maximum(layout.codes, 0)], layout.codes)
    return Layout(levels, codes, edges=edges, ordered=layout.ordered, merged=merged)


def is_ordered(levels: list) -> bool:
    """Whether factor levels are numbers (their natural order is numeric), so neighbours can merge.

    Parameters
    ----------
    levels : list of str

    Returns
    -------
    bool
    """
    return bool(levels) and all(_is_number(lv) for lv in levels)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def base_of(layout: Layout, base: object, name: str) -> str:
    """The level ``base`` names: a level, a level merged away, or (banded) a number in a band.

    Parameters
    ----------
    layout : Layout
    base : object
        The base level asked for.
    name : str

    Returns
    -------
    str

    Raises
    ------
    ValueError
        When ``base`` is none of those.
    """
    if layout.edges is not None and isinstance(base, (int, float, np.integer, np.floating)) \
            and not isinstance(base, (bool, np.bool_)) and math.isfinite(base):
        return layout.levels[int(band_codes(np.array([float(base)]), layout.edges)[0])]
    key = level_key(base)
    key = (layout.merged or {}).get(key, key)
    if key not in layout.levels:
        raise ValueError(f"base_levels[{name!r}] = {base!r} is not a level of {name!r}; "
                         f"levels are {layout.levels}")
    return key
