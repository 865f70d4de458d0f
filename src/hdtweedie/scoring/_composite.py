"""A product of models (frequency x severity x further steps) with the surface of ScoringModel.

``prediction = exposure * exp(link_frequency) * exp(link_severity) * ...``:
the exposure applies to the frequency part only, every other part is scored
per unit (the severity per claim).  Every verb is the parts' own verb,
combined: the links add, the predictions multiply.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from ._composite_file import FREQUENCY, part_source
from ._engine import Names, ReadOnly
from ._factors import BASIC_HEADER, INTERCEPT, _check_decimals
from ._files import write_csv
from ._model import ScoringModel, _emit
from ._results import Comparison, Explanation, Prediction, ScoringIssue
from ._text import fmt

__all__ = ["CompositeExplanation", "CompositeModel"]


def _restore(document: dict, source: str, verified: bool) -> CompositeModel:
    from ._load import check_document

    check_document(document, source)
    return CompositeModel._build(document, source, verified)


def _tagged(role: str, issues: list) -> list:
    """The parts' caveats, each message saying which part found it."""
    return [replace(i, message=f"{role} part: {i.message}") for i in issues]


def _merged(issues: list) -> list:
    """One caveat per kind and input: a row two parts flag is counted once (unscored if either failed)."""
    groups: dict = {}
    for issue in issues:
        groups.setdefault((issue.kind, issue.input), []).append(issue)
    return [same[0] if len(same) == 1 else ScoringIssue(
        kind, name, np.unique(np.concatenate([i.rows for i in same])), "; ".join(i.message for i in same),
        all(i.scored for i in same)) for (kind, name), same in groups.items()]


def _product(values, what: str) -> float:
    """The product of the parts' predictions, refused when beyond the range of a double."""
    out = math.prod(values)
    if not math.isfinite(out):
        raise ValueError(f"{what}: the product of the parts is beyond the range of a double")
    return out


def _prefixed(role: str, call):
    """Run a part's verb; a refusal names the part."""
    try:
        return call()
    except ValueError as exc:
        raise ValueError(f"{role} part: {exc}") from None


@dataclass
class CompositeExplanation(Explanation):
    """An :class:`Explanation` of a composite prediction, with each part's own.

    The combined ``contributions`` hold one entry per input of any part: its
    ``link`` is the sum of the parts' links for that input, so that
    ``intercept + sum(links) == link`` and ``base * prod(relativities) ==
    prediction`` as for one model (``intercept`` is the sum of the parts').

    Attributes
    ----------
    model_id, version : str
        Of the composite.
    intercept, exposure, base : float
        The sum of the parts' intercepts, the exposure (frequency part), and
        ``exposure * exp(intercept)``.
    contributions : list of dict
        As for :class:`Explanation`, one per input of any part.
    link, prediction : float
    warnings : list of ScoringIssue
        Every part's, each message naming its part.
    parts : dict
        Role to that part's :class:`Explanation` (the frequency part carries
        the exposure, the others have exposure 1).
    """

    parts: dict = field(default_factory=dict)

    def to_dict(self):
        """Plain dict (JSON-serialisable): the combined explanation and ``parts`` by role.

        Returns
        -------
        dict
        """
        out = super().to_dict()
        out["parts"] = {role: x.to_dict() for role, x in self.parts.items()}
        return out

    def __str__(self):
        lines = [super().__str__().replace("Model ", "Composite model ", 1)]
        lines += [f"{role} part:\n  " + str(x).replace("\n", "\n  ") for role, x in self.parts.items()]
        return "\n".join(lines)


class CompositeModel(ReadOnly):
    """A composite model file (frequency x severity x ...), ready to score.

    Create it with :func:`load_model` on a file written by
    :func:`compose_models` or ``hdtweedie compose``.  Immutable and
    thread-safe as :class:`ScoringModel`.

    Parameters
    ----------
    *args, **kwargs
        Not accepted: the constructor raises ``TypeError``.

    Attributes
    ----------
    model_id, version, created_at, package_version : str
    parts : mapping
        Role (``"frequency"``, ``"severity"``, ...) to its :class:`ScoringModel`, in file order.
    roles : tuple of str
    input_names : tuple of str
        Inputs of any part, in order of first appearance.
    required_inputs : tuple of str
        Inputs some part gives weight to.
    factor_names : tuple of str
        The inputs that are rating factors.
    level_gaps : tuple of str
        Factors whose parts know different levels: a level one part lacks
        follows that part's policy for unseen levels.
    sha256 : str
        Content hash of the composite file (covering every part).
    signature : mapping or None
    verified : bool
        True when the composite's signature was checked with a key at load.
    source : str
    document : dict
        A copy of the verified file content.
    """

    __slots__ = ("model_id", "version", "created_at", "package_version", "parts", "roles", "input_names",
                 "required_inputs", "factor_names", "level_gaps", "sha256", "signature", "verified",
                 "source", "_document")

    def __init__(self, *args, **kwargs):
        raise TypeError("use hdtweedie.scoring.load_model(path) to create a CompositeModel")

    @classmethod
    def _build(cls, document: dict, source: str, verified: bool) -> CompositeModel:
        """A composite from a checked document (see :func:`load_model`)."""
        self = object.__new__(cls)
        document = copy.deepcopy(document)
        parts = {p["role"]: ScoringModel._build(p["model"], part_source(source, p["role"]), False)
                 for p in document["parts"]}
        specs: dict = {}
        for p in document["parts"]:
            for spec in p["model"]["inputs"]:
                specs.setdefault(spec["name"], []).append((p["role"], spec))
        signature = document.get("signature")
        self._freeze({
            "model_id": document["model_id"], "version": document["version"],
            "created_at": document["created_at"], "package_version": document["package"]["version"],
            "parts": MappingProxyType(parts), "roles": tuple(parts),
            "input_names": Names(specs),
            "required_inputs": Names(n for n in specs if any(n in m.required_inputs for m in parts.values())),
            "factor_names": Names(n for n, s in specs.items() if s[0][1]["kind"] == "factor"),
            "level_gaps": tuple(_level_gaps(specs)),
            "sha256": document["sha256"], "verified": bool(verified), "source": source,
            "signature": signature and MappingProxyType({k: v for k, v in signature.items() if k != "value"}),
            "_document": document,
        })
        return self

    document = ScoringModel.document  # a copy of the verified file content, as for one model

    def __reduce__(self):
        return _restore, (self._document, self.source, self.verified)

    def __repr__(self):
        parts = ", ".join(f"{r}={m.model_id!r}@{m.version!r}" for r, m in self.parts.items())
        return f"CompositeModel(model_id={self.model_id!r}, version={self.version!r}, {parts})"

    def _label(self) -> str:
        return f"{self.model_id} version {self.version}"

    def _exposures(self, exposure) -> dict:
        return {role: exposure if role == FREQUENCY else None for role in self.roles}

    def predict(self, X, exposure=None, *, unknown=None, errors="raise", warn=True):
        """Predict ``exposure * exp(link_frequency) * exp(link_severity) * ...``.

        Parameters
        ----------
        X : dict, list of dict, DataFrame or dict of columns
            Records holding the inputs of every part (``input_names``).
        exposure : float, array-like, str or None
            Exposure per row or the record field holding it; applies to the
            frequency part only.
        unknown : {None, "error", "base"}
            As in :meth:`ScoringModel.predict`, for every part.
        errors : {"raise", "flag"}
            As in :meth:`ScoringModel.predict`: a row any part cannot score
            raises, or is NaN and flagged.
        warn : bool
            Also emit one :class:`ScoringInputWarning` summarising the caveats.

        Returns
        -------
        Prediction
            ``values`` the product of the parts' predictions, ``link`` the sum
            of their links, ``warnings`` every part's caveats (each message
            names its part).

        Raises
        ------
        ValueError
            Under ``errors="raise"``, for rows a part cannot score (the message
            names the part); for malformed data.
        TypeError
            For data or exposure of the wrong type.
        """
        preds = {role: _prefixed(role, lambda r=role, e=e: self.parts[r].predict(
                     X, e, unknown=unknown, errors=errors, warn=False))
                 for role, e in self._exposures(exposure).items()}
        values, link, issues = None, None, []
        with np.errstate(over="ignore"):  # an overflowing product is flagged below
            for role, p in preds.items():
                values = p.values if values is None else values * p.values
                link = p.link if link is None else link + p.link
                issues += _tagged(role, p.warnings)
        issues = _merged(issues)
        overflow = ~np.isfinite(values) & np.isfinite(link)
        if overflow.any():
            rows = np.flatnonzero(overflow)
            message = (f"prediction: {rows.size} row(s) whose product of parts is beyond the range of a "
                       f"double (first at row {int(rows[0])}); not scored")
            if errors == "raise":
                raise ValueError(message + " (pass errors='flag' to score the other rows)")
            issues.append(ScoringIssue("overflow", "prediction", rows, message, False))
            values = np.where(overflow, np.nan, values)
        if warn and issues:
            _emit(issues)
        return Prediction(values, link, preds[FREQUENCY].exposure, issues)

    def explain(self, record, exposure=None, *, unknown=None):
        """Split one prediction into a base and a relativity per input, and per part.

        Parameters
        ----------
        record : dict, pandas Series or one-row DataFrame
        exposure : float, str or None
            Exposure (default 1) or the record field holding it; frequency part only.
        unknown : {None, "error", "base"}
            As in :meth:`ScoringModel.predict`.

        Returns
        -------
        CompositeExplanation
            ``base * prod(relativities) == prediction``; ``parts`` holds each
            part's :class:`Explanation`.

        Raises
        ------
        ValueError
            For more than one record, or a record a part cannot score.
        """
        parts = {role: _prefixed(role, lambda r=role, e=e: self.parts[r].explain(record, e, unknown=unknown))
                 for role, e in self._exposures(exposure).items()}
        return self._combined(parts)

    def _combined(self, parts: dict) -> CompositeExplanation:
        by_input: dict = {}
        for x in parts.values():
            for c in x.contributions:
                by_input.setdefault(c["input"], []).append(c)
        contributions = []
        for items in by_input.values():
            link = math.fsum(c["link"] for c in items)
            contributions.append({**items[0], "link": link, "relativity": math.exp(link)})
        front = parts[FREQUENCY]
        intercept = math.fsum(x.intercept for x in parts.values())
        prediction = _product((x.prediction for x in parts.values()), "record")
        base = _product((front.exposure, *(math.exp(x.intercept) for x in parts.values())), "record (base)")
        return CompositeExplanation(
            model_id=self.model_id, version=self.version, intercept=intercept, exposure=front.exposure,
            base=base, contributions=contributions,
            link=math.fsum(x.link for x in parts.values()), prediction=prediction,
            warnings=[w for role, x in parts.items() for w in _tagged(role, x.warnings)], parts=parts)

    def compare(self, record_a, record_b=None, *, other=None, exposure_a=None, exposure_b=None,
                unknown=None) -> Comparison:
        """Compare two predictions and attribute their log-ratio exactly, part by part.

        Each part compares the records as :meth:`ScoringModel.compare` does
        (the exposures on the frequency part only); every attribution term
        carries its ``part``, and all of them together sum to the log-ratio
        of the composite predictions.

        Parameters
        ----------
        record_a : dict or Series
        record_b : same, optional
            Defaults to ``record_a`` (a pure model comparison with ``other``).
        other : CompositeModel, optional
            A composite with the same roles to score record B on.
        exposure_a, exposure_b : float, str or None
            As in :meth:`ScoringModel.compare`.
        unknown : {None, "error", "base"}
            As in :meth:`ScoringModel.predict`.

        Returns
        -------
        Comparison
            ``input_attribution`` and ``model_attribution`` entries have
            ``part``, ``input``, ``link`` and ``relativity``.

        Raises
        ------
        TypeError
            If ``other`` is not a CompositeModel.
        ValueError
            If ``other`` has other roles, for records a part cannot score, or a zero exposure.
        """
        if other is not None and not isinstance(other, CompositeModel):
            raise TypeError(f"other must be a CompositeModel (from load_model), got {type(other).__name__}")
        if other is not None and other.roles != self.roles:
            raise ValueError(f"other has the parts {list(other.roles)}, this composite {list(self.roles)}")
        results = {}
        for role, part in self.parts.items():
            freq = role == FREQUENCY
            results[role] = _prefixed(role, lambda p=part, r=role, f=freq: p.compare(
                record_a, record_b, other=None if other is None else other.parts[r],
                exposure_a=exposure_a if f else None, exposure_b=exposure_b if f else None,
                unknown=unknown))
        return self._comparison(results, other)

    def _comparison(self, results: dict, other) -> Comparison:
        def terms(attr: str) -> list:
            return [{"part": role, **t} for role, c in results.items() for t in getattr(c, attr)]

        input_attr, model_attr = terms("input_attribution"), terms("model_attribution")
        changed = list({c["input"]: c for r in results.values() for c in r.changed_inputs}.values())
        pa = _product((c.prediction_a for c in results.values()), "record_a")
        pb = _product((c.prediction_b for c in results.values()), "record_b")
        tagged = [w for role, c in results.items() for w in _tagged(role, c.warnings)]
        issues = list({w.message: w for w in tagged}.values())
        input_part = math.fsum(t["link"] for t in input_attr)
        model_part = math.fsum(t["link"] for t in model_attr)
        both = "" if other is None else f" (record B on {other._label()})"
        lines = [f"Prediction A {fmt(pa)}, prediction B {fmt(pb)}: ratio {pb / pa:.6f} on composite "
                 f"{self._label()}{both}, the product of its parts:"]
        lines += [f"{role} part: ratio {c.ratio:.6f}\n  " + c.summary.replace("\n", "\n  ")
                  for role, c in results.items()]
        return Comparison(prediction_a=pa, prediction_b=pb, ratio=pb / pa,
                          log_ratio=math.log(pb) - math.log(pa),
                          changed_inputs=changed, input_attribution=input_attr, model_attribution=model_attr,
                          input_part=input_part, model_part=model_part, summary="\n".join(lines),
                          warnings=issues)

    def factor_table(self, path=None, *, include_base=True, decimals=None, names=None, policies=None):
        """Relativities of every level of every factor, multiplied across the parts.

        A factor in several parts gets, per level, the product of the parts'
        relativities (a level a part lacks counts 1 there, as a part scoring
        unseen levels at the base level treats it); a factor in one part only
        carries that part's.  The ``"(intercept)"`` row is the product of the
        parts' base rates (per unit exposure; per claim for the severity).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Also write the table as CSV (Factor, Level, Relativity), whole or not at all.
        include_base : bool
            Start with the ``"(intercept)"`` row.
        decimals : int, optional
            Round every relativity to this many decimals (0 to 15), after multiplying.
        names : mapping, optional
            New names of some inputs, as in :meth:`ScoringModel.factor_table`.
        policies : records or DataFrame, optional
            Policies to be rated with the table: every part must know every
            level of its factors found there, otherwise nothing is written and
            the missing levels are named (with the part).

        Returns
        -------
        list of dict
            Rows ``{"Factor", "Level", "Relativity"}``.

        Raises
        ------
        ValueError, TypeError
            For unusable ``decimals`` or ``names``, or policies with levels a part lacks.
        OSError
            If ``path`` cannot be written; an existing file is then left as it was.
        """
        _check_decimals(decimals)
        names = {} if names is None else names
        if not isinstance(names, Mapping):
            raise TypeError(f"names must be a mapping of input name to new name, got {type(names).__name__}")
        unknown = [k for k in names if k not in self.input_names]
        if unknown:
            raise ValueError(f"names: {unknown} are not inputs of the composite "
                             f"(inputs: {list(self.input_names)})")
        own = {role: {k: v for k, v in names.items() if k in part.input_names}
               for role, part in self.parts.items()}
        table: dict = {}
        for role, part in self.parts.items():
            for row in part.factor_table(include_base=True, names=own[role]):
                key = (row["Factor"], row["Level"])
                table[key] = table.get(key, 1.0) * row["Relativity"]
        if policies is not None:
            for role, part in self.parts.items():
                _prefixed(role, lambda p=part, r=role: p.factor_table(names=own[r], policies=policies))
        rows = [{"Factor": f, "Level": lv, "Relativity": r if decimals is None else round(r, decimals)}
                for (f, lv), r in table.items() if include_base or f != INTERCEPT]
        if path is not None:
            write_csv(path, BASIC_HEADER, ([r["Factor"], r["Level"], repr(r["Relativity"])] for r in rows))
        return rows


def _level_gaps(specs: dict) -> list:
    gaps = []
    for name, entries in specs.items():
        if len(entries) < 2 or entries[0][1]["kind"] != "factor":
            continue
        union = set().union(*(set(s["levels"]) for _, s in entries))
        for role, spec in entries:
            lacking = sorted(union - set(spec["levels"]))
            if lacking:
                shown = ", ".join(map(repr, lacking[:10])) + (f" and {len(lacking) - 10} more"
                                                              if len(lacking) > 10 else "")
                gaps.append(f"factor {name!r}: part {role!r} lacks the level(s) {shown}, scored by its "
                            f"policy for unseen levels ({spec['handle_unknown']!r})")
    return gaps
