"""Scoring one plain record without the batch machinery: the path of ``explain`` and ``predict`` of a dict.

A pricing request is one dict of JSON scalars.  Turning it into one-row
numpy columns costs more than the arithmetic, so :class:`RecordPlan` scores
such a record with a dict lookup per factor and a float product per numeric
input.  Every number comes from the engine's own tables (``term.table``,
``term.coef``, ``term.index``), the link is summed in the batch path's order
(intercept, then each term in model order) and the issue texts are the batch
path's (:func:`~hdtweedie.scoring._engine.add_unseen`,
:func:`~hdtweedie.scoring._engine.add_out_of_range`), so the results are
bit-identical to scoring the record as a one-row table.

Anything else (other record types or value types, a missing required
input, a row that cannot be scored, an exposure given as a field name)
returns ``None`` and the caller takes the batch path, which gives the
errors and issues of those cases.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from ._engine import Evaluation, ReadOnly, add_out_of_range, add_unseen
from ._levels import level_key

__all__ = ["RecordPlan", "Single"]

_SCALARS = frozenset((str, int, float, bool, type(None)))
_ABSENT = object()
_ONE = np.ones(1, dtype=bool)  # the mask of the one row, for the caveats
_ONE.flags.writeable = False
_INT_EXACT = 2 ** 53  # larger integers take the batch path (their conversion is numpy's to own)
# exp() of a link outside this range overflows or loses precision; the batch path flags those rows
_LINK_RANGE = 700.0


def _number(v) -> float | None:
    """A value as the batch path's ``as_numeric`` reads it, or None when only that path can read it."""
    t = type(v)
    if t is float:
        return v
    if t is int and -_INT_EXACT <= v <= _INT_EXACT:
        return float(v)
    return None


def _issues(box: list) -> Evaluation:
    """The one-row Evaluation collecting a record's caveats, made on first use."""
    if not box:
        box.append(Evaluation(1, 0, False))
    return box[0]


class Single:
    """One scored record (internal): what an :class:`Explanation` or a one-row :class:`Prediction` needs.

    Attributes
    ----------
    link, value, exposure : float
        Linear predictor, prediction and exposure.
    parts : list of float
        Link contribution per term, in model order.
    shown : list
        Per term: the value as the batch path shows it (as given, numbers as float).
    codes : list
        Per term: the level (or cell) code scored, None for numeric inputs.
    issues : list of ScoringIssue
        Only caveats of scored rows (any other issue takes the batch path).
    """

    __slots__ = ("link", "value", "exposure", "parts", "shown", "codes", "issues")


class RecordPlan(ReadOnly):
    """Per-term lookup tables of an :class:`~hdtweedie.scoring._engine.Engine`, for one-record scoring.

    Parameters
    ----------
    engine : Engine
        With its terms built.  Every link in the plan is read from the
        terms' own tables (``table``, ``coef``), so the two paths cannot drift apart.
    """

    __slots__ = ("intercept", "steps")

    def __init__(self, engine):
        steps = []
        for term in engine.terms:
            if term.kind == "factor":
                # {level key: (code, link)}: merged levels map to their group's code through term.index
                entry = [(code, float(link)) for code, link in enumerate(term.table.tolist())]
                lookup = {key: entry[code] for key, code in term.index.items()}
                code = -2 if term.missing is None else term.index.get(term.missing, -1)
                missing = entry[code] if code >= 0 else (code, 0.0)  # -1: unseen, -2: not scorable
                inner = None if term.edges is None else tuple(term.edges[1:-1])
                steps.append(("factor", term, lookup, entry, missing, inner))
            elif term.kind == "numeric":
                bounds = None if term.min is None or term.max is None else (float(term.min), float(term.max))
                steps.append(("numeric", term, bounds))
            else:
                steps.append(("interaction", term, term.table.reshape(-1).tolist()))
        self._freeze({"intercept": engine.intercept, "steps": tuple(steps)})

    def score(self, record, exposure, unknown) -> Single | None:
        """Score one plain record, or return None for the batch path to take it.

        Parameters
        ----------
        record : object
            Taken only when a ``dict`` of string keys and ``str``, ``int``,
            ``float``, ``bool`` or ``None`` values.
        exposure : object
            Taken only when None or a (non-boolean) number.
        unknown : {None, "error", "base"}

        Returns
        -------
        Single or None
        """
        if type(record) is not dict or unknown not in (None, "error", "base"):
            return None
        for k, v in record.items():
            if type(k) is not str or type(v) not in _SCALARS:
                return None
        if exposure is None:
            e = 1.0
        else:
            e = _number(exposure)
            if e is None or not (math.isfinite(e) and e >= 0):
                return None
        box = []  # an Evaluation, made at the first caveat: its add() owns the wording and the ScoringIssue
        link = self.intercept
        parts, shown, codes = [], [], []
        for step in self.steps:
            kind, term = step[0], step[1]
            if kind == "interaction":
                part, value, code = self._interaction(term, step[2], shown, codes)
                if part is None:
                    return None
            else:
                v = record.get(term.name, _ABSENT)
                if v is _ABSENT:  # an input without effect may be left out
                    if term.used:
                        return None
                    part, value, code = 0.0, None, (None if kind == "numeric" else term.base_code)
                else:
                    if kind == "factor":
                        part, value, code = self._factor(step, v, unknown, box)
                    else:
                        part, value, code = self._numeric(term, step[2], v, box)
                    if part is None:
                        return None
            link += part  # the batch path's order: intercept, then each term in model order
            parts.append(part)
            shown.append(value)
            codes.append(code)
        if not -_LINK_RANGE < link < _LINK_RANGE:
            return None
        value = e * float(np.exp(link))  # numpy's exp, as the batch path (libm's may differ in the last bit)
        if not math.isfinite(value):
            return None
        one = Single()
        one.link, one.value, one.exposure = link, value, e
        one.parts, one.shown, one.codes = parts, shown, codes
        one.issues = box[0].issues if box else []
        return one

    @staticmethod
    def _factor(step, v, unknown, box):
        _, term, lookup, entry, missing, inner = step
        if inner is None:
            key = v if type(v) is str else level_key(v)  # the one normalisation of levels
            hit = missing if key is None else lookup.get(key)
        else:
            x = math.nan if v is None else _number(v)
            if x is None:
                return None, None, None
            if term.used and (x < term.min or x > term.max):
                add_out_of_range(_issues(box), term, _ONE, np.array([x]))
            # left-closed bands, as searchsorted(side="right") on the inner edges
            hit = missing if x != x else entry[bisect_right(inner, x)]
        if hit is None or hit[0] == -1:  # a level not seen in training (or no missing level)
            if term.used:
                if (unknown or term.handle_unknown) != "base":
                    return None, None, None
                add_unseen(_issues(box), term, _ONE, [str(level_key(v))], True, np.array([v], dtype=object))
            hit = entry[term.base_code]
        elif hit[0] == -2:  # a missing value, and the factor has no missing level
            if term.used:
                return None, None, None
            hit = entry[term.base_code]
        return hit[1], v, hit[0]

    @staticmethod
    def _numeric(term, bounds, v, box):
        x = _number(v)
        if x is None:
            return None, None, None
        if not term.used:
            return 0.0, x, None
        if not math.isfinite(x):  # missing or infinite: the row is not scored
            return None, None, None
        if bounds is not None and (x < bounds[0] or x > bounds[1]):
            add_out_of_range(_issues(box), term, _ONE, np.array([x]))
        return x * term.coef, x, None

    @staticmethod
    def _interaction(term, flat, shown, codes):
        pa, pb = term.parents
        if term.numeric is None:
            cell = codes[pa] * term.table.shape[1] + codes[pb]
            return flat[cell], term.levels[cell], cell
        pf, px = (pb, pa) if term.numeric == 0 else (pa, pb)
        code, x = codes[pf], shown[px]
        if not term.used:
            return 0.0, x, code
        if x is None:
            return None, None, None
        return flat[code] * x, x, code  # the parent has checked x is finite
