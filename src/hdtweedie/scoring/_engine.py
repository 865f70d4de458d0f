"""The arithmetic of scoring: records or design rows to linear predictors, with every caveat found.

The model is ``prediction = exposure * exp(b0 + x . b)``.  An :class:`Engine`
holds the coefficients as read-only arrays, one term per input, and turns a
batch of rows into an :class:`Evaluation`: the linear predictor, the
predictions, optionally each input's contribution, and the issues.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from ._bands import factor_codes
from ._inputs import read_exposure, read_table
from ._levels import as_array, as_numeric, level_key
from ._results import ScoringIssue
from ._text import short

__all__ = ["Engine", "Evaluation", "FactorTerm", "Names", "NumericTerm", "ReadOnly", "add_out_of_range",
           "add_unseen"]


def _frozen(values, dtype) -> np.ndarray:
    arr = np.array(values, dtype=dtype)
    arr.flags.writeable = False
    return arr


class ReadOnly:
    """Base of objects whose attributes are set once, through ``object.__setattr__``."""

    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only: cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is read-only: cannot delete {name!r}")

    def _freeze(self, values: dict) -> None:
        """Set the attributes once, at construction."""
        for name, value in values.items():
            object.__setattr__(self, name, value)


class Names(tuple):
    """A tuple of names that also equals a list of the same names (these attributes were lists)."""

    __slots__ = ()

    def __eq__(self, other):
        if isinstance(other, list):
            return tuple.__eq__(self, tuple(other))
        return tuple.__eq__(self, other)

    def __ne__(self, other):
        return not self == other

    def __add__(self, other):
        return list(self) + other if isinstance(other, list) else tuple.__add__(self, other)

    def __radd__(self, other):
        return other + list(self) if isinstance(other, list) else NotImplemented

    __hash__ = tuple.__hash__


class FactorTerm(ReadOnly):
    """A rating factor: the link contribution of each of its levels (the base level's is 0).

    A banded factor (``edges`` set) bands raw numbers; ``index`` also maps the
    levels merged away (``merged``) to the code of their level; ``missing``
    is the level of missing values, if the factor has one.

    Parameters
    ----------
    spec : dict
        The factor's entry of the model file's ``inputs``.
    feature_pos : dict
        Feature name to its column in the design matrix.
    coef : numpy.ndarray
        Coefficients in feature order.
    """

    __slots__ = ("name", "levels", "base", "handle_unknown", "index", "base_code", "table", "block",
                 "block_codes", "used", "edges", "min", "max", "merged", "missing")
    kind = "factor"

    def __init__(self, spec: dict, feature_pos: dict, coef: np.ndarray):
        levels = tuple(spec["levels"])
        index = {lv: i for i, lv in enumerate(levels)}
        table = np.zeros(len(levels))
        block, block_codes = [], []
        for lv, feat in spec["features"].items():
            table[index[lv]] = coef[feature_pos[feat]]
            block.append(feature_pos[feat])
            block_codes.append(index[lv])
        table.flags.writeable = False
        merged = dict(spec.get("merged", {}))
        bands = spec.get("bands")
        self._freeze({"name": spec["name"], "levels": levels, "base": spec["base_level"],
                      "handle_unknown": spec["handle_unknown"],
                      "index": MappingProxyType({**index, **{lv: index[to] for lv, to in merged.items()}}),
                      "base_code": index[spec["base_level"]], "table": table,
                      "block": _frozen(block, np.intp), "block_codes": _frozen(block_codes, np.intp),
                      "used": bool(np.any(table != 0.0)), "merged": MappingProxyType(merged),
                      "edges": None if bands is None else tuple(float(e) for e in bands["edges"]),
                      "min": None if bands is None else float(bands["min"]),
                      "max": None if bands is None else float(bands["max"]),
                      "missing": spec.get("missing_level")})

    def codes(self, values) -> np.ndarray:
        """Level code of each raw value: ``-1`` for an unseen level, ``-2`` for a missing value.

        Parameters
        ----------
        values : array-like or pandas Series
            Raw values of this factor.

        Returns
        -------
        numpy.ndarray
            One ``intp`` code per value, from :func:`~hdtweedie.scoring._bands.factor_codes`.

        Raises
        ------
        TypeError
            For values that cannot be levels (banded: that are not numbers).
        """
        return factor_codes(values, self.index, self.name, edges=self.edges, missing=self.missing)


class NumericTerm(ReadOnly):
    """A numeric input: ``coefficient * value``, with its training range.

    Parameters
    ----------
    spec, feature_pos, coef
        As for :class:`FactorTerm`; ``spec`` is the numeric input's entry.
    """

    __slots__ = ("name", "feature", "pos", "coef", "min", "max", "used")
    kind = "numeric"

    def __init__(self, spec: dict, feature_pos: dict, coef: np.ndarray):
        pos = feature_pos[spec["feature"]]
        self._freeze({"name": spec["name"], "feature": spec["feature"], "pos": pos, "coef": float(coef[pos]),
                      "min": spec["min"], "max": spec["max"], "used": float(coef[pos]) != 0.0})


class Evaluation:
    """The result of scoring one batch (internal to the scorer).

    Attributes
    ----------
    n : int
    link, exposure, values : numpy.ndarray
        Linear predictor, exposure and ``exposure * exp(link)`` per row.
    contrib : numpy.ndarray or None
        Link contribution per row and input, when kept.
    shown, levels : list
        Per input: the values as given and (factors) the level codes scored.
    issues : list of ScoringIssue
    bad : numpy.ndarray of bool
        Rows that could not be scored.
    """

    __slots__ = ("n", "link", "exposure", "values", "contrib", "shown", "levels", "issues", "bad")

    def __init__(self, n: int, n_inputs: int, keep: bool):
        self.n = n
        self.issues = []
        self.bad = np.zeros(n, dtype=bool)
        self.contrib = np.zeros((n, n_inputs)) if keep else None
        self.shown = [None] * n_inputs
        self.levels = [None] * n_inputs

    def add(self, kind: str, name: str, mask: np.ndarray, what: str, scored: bool,
            values: np.ndarray | None = None, suffix: str = "") -> None:
        """Record an issue for the rows in ``mask``; unscored rows become bad.

        Parameters
        ----------
        kind, name, what : str
            Issue kind, input concerned and what the rows have, in words.
        mask : numpy.ndarray of bool
        scored : bool
        values : numpy.ndarray, optional
            The values given, to show the first one.
        suffix : str
            Appended to the message.
        """
        rows = np.flatnonzero(mask)
        plural = "row" if rows.size == 1 else "rows"
        listed = ", ".join(str(int(r)) for r in rows[:5])
        where = f"at {plural} {listed}" + (f" and {rows.size - 5} more" if rows.size > 5 else "")
        if values is not None:
            first = values[int(rows[0])]
            where += f"; first value {short(first.item() if isinstance(first, np.generic) else first)}"
        message = f"{name}: {rows.size} {plural} with {what} ({where}){suffix}"
        if not scored:
            message += "; not scored"
            self.bad[rows] = True
        self.issues.append(ScoringIssue(kind, name, rows, message, scored))


def add_unseen(ev: Evaluation, term, mask: np.ndarray, examples: list, based: bool, raw) -> None:
    """Record the ``unseen_level`` issue of a factor (the one wording of the batch and record paths).

    Parameters
    ----------
    ev : Evaluation
    term : FactorTerm
    mask : numpy.ndarray of bool
        Rows with an unseen level.
    examples : list of str
        Up to five canonical texts of the levels, sorted.
    based : bool
        Scored at the base level (else the rows are not scored).
    raw : numpy.ndarray
        The values given.
    """
    what = f"a level not seen in training ({', '.join(map(repr, examples))})"
    if based:
        ev.add("unseen_level", term.name, mask, what, True, raw, f"; scored at the base level {term.base!r}")
    else:
        ev.add("unseen_level", term.name, mask, what, False, raw)


def add_out_of_range(ev: Evaluation, term, mask: np.ndarray, x: np.ndarray) -> None:
    """Record the ``out_of_range`` issue of a numeric input or a banded factor.

    Parameters
    ----------
    ev : Evaluation
    term : NumericTerm or FactorTerm
    mask : numpy.ndarray of bool
        Rows outside ``[term.min, term.max]``.
    x : numpy.ndarray of float64
        The values as numbers.
    """
    if term.kind == "factor":
        suffix = "; scored in its band, values beyond the end edges in the end bands"
    else:
        suffix = "; the prediction extrapolates"
    what = f"a value outside the training range [{term.min!r}, {term.max!r}]"
    ev.add("out_of_range", term.name, mask, what, True, x, suffix)


class Engine(ReadOnly):
    """Coefficients and input terms of a model, scoring batches of rows.

    Parameters
    ----------
    intercept : float
    feature_names : tuple of str
    coef : numpy.ndarray
        Read-only coefficients in feature order.
    inputs : list of dict
        The model file's ``inputs``.
    """

    __slots__ = ("intercept", "feature_names", "coef", "terms", "required", "record")

    def __init__(self, intercept: float, feature_names: tuple, coef: np.ndarray, inputs: list):
        pos = {f: i for i, f in enumerate(feature_names)}
        terms = []
        for s in inputs:
            if s["kind"] == "interaction":
                from ._interaction_terms import InteractionTerm  # it builds on this module

                terms.append(InteractionTerm(s, pos, coef, terms))
            else:
                terms.append((FactorTerm if s["kind"] == "factor" else NumericTerm)(s, pos, coef))
        terms = tuple(terms)
        self._freeze({"intercept": intercept, "feature_names": feature_names, "coef": coef, "terms": terms,
                      "required": Names(t.name for t in terms if t.used and t.kind != "interaction")})
        from ._record import RecordPlan  # it builds on this module

        self._freeze({"record": RecordPlan(self)})

    def evaluate(self, data, exposure=None, unknown=None, errors="raise", keep=False) -> Evaluation:
        """Score a batch; see :meth:`ScoringModel.predict` for the arguments.

        Parameters
        ----------
        data : records, columns or design matrix
        exposure : float, array-like, str or None
        unknown : {None, "error", "base"}
        errors : {"raise", "flag"}
        keep : bool
            Keep each input's contribution and the levels scored (explain, compare).

        Returns
        -------
        Evaluation

        Raises
        ------
        ValueError
            Under ``errors="raise"``, for rows that cannot be scored, naming them.
        """
        if errors not in ("raise", "flag"):
            raise ValueError(f"errors must be 'raise' or 'flag', got {errors!r}")
        if unknown not in (None, "error", "base"):
            raise ValueError(f"unknown must be None, 'error' or 'base', got {unknown!r}")
        layout, table, n = read_table(data, self.feature_names)
        columns = table if layout == "columns" else None
        ev = Evaluation(n, len(self.terms), keep)
        if layout == "columns" and any(name not in table for name in self.required) \
                and all(f in table for f in self.feature_names):
            # already-encoded columns by feature name (e.g. a transformer's pandas output)
            table = np.column_stack([as_numeric(table[f], f) for f in self.feature_names])
            layout = "design"
        if layout == "columns":
            missing = [name for name in self.required if name not in table]
            if missing:
                raise ValueError(f"X: records lack the input(s) {missing}; the model needs "
                                 f"{list(self.required)}")
            link = np.full(n, self.intercept)
            for j, term in enumerate(self.terms):
                if term.kind == "interaction":  # computed from its parents, scored before it
                    part = term.part(ev, j)
                else:
                    part = self._column_part(term, table.get(term.name), n, unknown, ev, j)
                link += part
                if keep:
                    ev.contrib[:, j] = part
        else:
            link = self._design_part(table, ev, keep)
        e = read_exposure(exposure, columns, n)
        bad_e = ~np.isfinite(e) | (e < 0)
        if bad_e.any():
            ev.add("invalid_exposure", "exposure", bad_e, "negative, NaN or infinite exposure", False, e)
        with np.errstate(over="ignore", invalid="ignore"):
            values = e * np.exp(link)
        overflow = ~(np.isfinite(link) & np.isfinite(values)) & ~ev.bad
        if overflow.any():
            ev.add("overflow", "prediction", overflow,
                   "a prediction beyond the range of a double (exposure * exp(link) overflows)", False)
        ev.exposure, ev.link, ev.values = e, link, values
        if errors == "raise":
            for issue in ev.issues:
                if not issue.scored:
                    raise ValueError(f"{issue.message} (pass errors='flag' to score the other rows)")
        return ev

    def _column_part(self, term, values, n: int, unknown, ev: Evaluation, j: int) -> np.ndarray:
        if values is None:  # an input without effect, left out of the records
            ev.shown[j] = np.full(n, None, dtype=object)
            if term.kind == "factor":
                ev.levels[j] = np.full(n, term.base_code, dtype=np.intp)
            return np.zeros(n)
        if term.kind == "numeric":
            return self._numeric_part(term, values, ev, j)
        codes = term.codes(values)
        raw = as_array(values)
        missing, unseen = codes == -2, codes == -1
        if term.edges is not None:
            self._range_check(term, as_numeric(raw, term.name), ev)
        if term.used and missing.any():
            ev.add("missing_value", term.name, missing, "a missing value", False, raw)
        if term.used and unseen.any():
            policy = unknown or term.handle_unknown
            examples = sorted({str(level_key(v)) for v in raw[unseen][:1000].tolist()})[:5]
            add_unseen(ev, term, unseen, examples, policy == "base", raw)
        codes = np.where(codes < 0, term.base_code, codes)
        ev.shown[j] = raw
        ev.levels[j] = codes
        return term.table[codes]

    def _numeric_part(self, term, values, ev: Evaluation, j: int) -> np.ndarray:
        x = as_numeric(values, term.name)
        ev.shown[j] = x
        if not term.used:
            return np.zeros(x.shape[0])
        nan, inf = np.isnan(x), np.isinf(x)
        if nan.any():
            ev.add("missing_value", term.name, nan, "a missing or NaN value", False, x)
        if inf.any():
            ev.add("invalid_value", term.name, inf, "an infinite value", False, x)
        self._range_check(term, x, ev)
        part = x * term.coef
        part[nan | inf] = 0.0
        return part

    @staticmethod
    def _range_check(term, x: np.ndarray, ev: Evaluation) -> None:
        if term.min is None or term.max is None or not term.used:
            return
        if term.kind == "factor":  # banded: infinities are scored in the end bands
            out = (x < term.min) | (x > term.max)
        else:
            out = np.isfinite(x) & ((x < term.min) | (x > term.max))  # NaN and inf are flagged as such
        if out.any():
            add_out_of_range(ev, term, out, x)

    def _design_part(self, X: np.ndarray, ev: Evaluation, keep: bool) -> np.ndarray:
        n = X.shape[0]
        finite = np.isfinite(X)
        rows = ~finite.all(axis=1)
        if rows.any():
            # NaN/inf anywhere in a row would reach its linear predictor (0 * inf is NaN too)
            cols = np.flatnonzero(~finite[rows].all(axis=0))
            names = ", ".join(self.feature_names[c] for c in cols[:5])
            ev.add("missing_value", names, rows, "a NaN or infinite entry in the design matrix", False)
            X = np.where(finite, X, 0.0)
        with np.errstate(over="ignore", invalid="ignore"):
            link = X @ self.coef + self.intercept
        self._check_one_hot(X, ev)
        for j, term in enumerate(self.terms):
            if term.kind == "interaction":
                if keep:
                    term.explain_design(X, self.coef, ev, j)
            elif term.kind == "numeric":
                x = X[:, term.pos]
                self._range_check(term, x, ev)
                if keep:
                    ev.shown[j] = x
                    ev.contrib[:, j] = x * term.coef
            elif keep:
                block = X[:, term.block]
                codes = np.full(n, term.base_code, dtype=np.intp)
                if term.block.size:
                    has = block.sum(axis=1) > 0
                    codes[has] = term.block_codes[np.argmax(block[has], axis=1)]
                    ev.contrib[:, j] = block @ self.coef[term.block]
                ev.levels[j] = codes
                ev.shown[j] = np.array([term.levels[c] for c in codes], dtype=object)
        return link

    def _check_one_hot(self, X: np.ndarray, ev: Evaluation) -> None:
        factors = [t for t in self.terms if t.kind == "factor" and t.block.size]
        if not factors:
            return
        # one pass over all factor columns: entries must be 0/1, at most one 1 per factor
        cols = np.concatenate([t.block for t in factors])
        owner = np.repeat(np.arange(len(factors)), [t.block.size for t in factors])
        F = X[:, cols]
        binary = (F == 0) | (F == 1)
        sums = F @ (owner[:, None] == np.arange(len(factors))[None, :])
        ok = binary.all(axis=1) & (sums <= 1).all(axis=1)
        if ok.all():
            return
        rows = np.flatnonzero(~ok)
        for k, term in enumerate(factors):
            wrong = ~binary[rows][:, owner == k].all(axis=1) | (sums[rows, k] > 1)
            if wrong.any():
                mask = np.zeros(X.shape[0], dtype=bool)
                mask[rows[wrong]] = True
                ev.add("invalid_encoding", term.name, mask,
                       "a design row that is not a one-hot level of this factor", True,
                       suffix="; its columns are scored as given")
