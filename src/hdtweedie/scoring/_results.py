"""What scoring returns: predictions, explanations, comparisons and the caveats found."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._text import fmt

__all__ = ["Comparison", "Explanation", "Prediction", "ScoringIssue", "jsonable"]


@dataclass(frozen=True)
class ScoringIssue:
    """A caveat about some rows of a scoring call.

    Attributes
    ----------
    kind : str
        ``"out_of_range"``, ``"unseen_level"``, ``"missing_value"``,
        ``"invalid_value"`` (an infinite input), ``"invalid_exposure"``,
        ``"invalid_encoding"`` or ``"overflow"`` (the prediction is beyond
        the range of a double).
    input : str
        The input (rating factor, numeric input or ``"exposure"``) concerned.
    rows : numpy.ndarray
        Row positions affected.
    message : str
        What happened, in words.
    scored : bool
        False when the rows could not be scored (their prediction is NaN).
    """

    kind: str
    input: str
    rows: np.ndarray = field(repr=False)
    message: str
    scored: bool = True

    def __str__(self):
        return self.message


class Prediction:
    """Predictions with the caveats found while scoring.

    Behaves as a 1-D float array (``np.asarray(pred)``, ``pred[i]``,
    ``len(pred)``); ``warnings`` lists every :class:`ScoringIssue` and
    ``flagged`` marks the rows they concern, so no caveat is silent.

    Parameters
    ----------
    values, link, exposure : numpy.ndarray
        As the attributes.
    issues : list of ScoringIssue

    Attributes
    ----------
    values : numpy.ndarray
        ``exposure * exp(b0 + x . b)``; always finite except NaN for rows
        that could not be scored when ``errors="flag"`` (all flagged).
    link : numpy.ndarray
        ``b0 + x . b`` (without the exposure).
    exposure : numpy.ndarray
    warnings : list of ScoringIssue
    flagged : numpy.ndarray of bool
    """

    def __init__(self, values, link, exposure, issues):
        self.values = values
        self.link = link
        self.exposure = exposure
        self.warnings = list(issues)
        self.flagged = np.zeros(values.shape[0], dtype=bool)
        for issue in self.warnings:
            self.flagged[issue.rows] = True

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __len__(self):
        return self.values.shape[0]

    def __getitem__(self, item):
        return self.values[item]

    def __iter__(self):
        return iter(self.values)

    def __float__(self):
        if self.values.shape[0] != 1:
            raise TypeError(f"only a single prediction converts to float, got {self.values.shape[0]}")
        return float(self.values[0])

    def __repr__(self):
        shown = np.array2string(self.values, threshold=6, precision=6)
        return f"Prediction({shown}, {len(self.warnings)} warning(s))"


@dataclass
class Explanation:
    """One prediction split into a base and one relativity per input.

    ``base * prod(relativity) == prediction``, where ``base = exposure *
    exp(intercept)`` and each input's ``relativity = exp(link)``.

    Attributes
    ----------
    model_id, version : str
    intercept, exposure, base : float
    contributions : list of dict
        One per input, in model order: ``input``, ``kind`` (factor/numeric),
        ``value`` (as given), ``level`` (the level scored, factors only),
        ``link`` (contribution to the linear predictor) and ``relativity``.
    link, prediction : float
    warnings : list of ScoringIssue
    """

    model_id: str
    version: str
    intercept: float
    exposure: float
    base: float
    contributions: list
    link: float
    prediction: float
    warnings: list

    @property
    def relativities(self):
        """Dict of input name to multiplicative relativity.

        Returns
        -------
        dict
        """
        return {c["input"]: c["relativity"] for c in self.contributions}

    def to_dict(self):
        """Plain dict (JSON-serialisable) of the explanation.

        Returns
        -------
        dict
        """
        return {
            "model_id": self.model_id,
            "version": self.version,
            "base": {"intercept": self.intercept, "exposure": self.exposure, "value": self.base},
            "contributions": [jsonable(c) for c in self.contributions],
            "link": self.link,
            "prediction": self.prediction,
            "warnings": [w.message for w in self.warnings],
        }

    def __str__(self):
        lines = [
            f"Model {self.model_id} version {self.version}",
            f"  base: exposure {fmt(self.exposure)} x exp(intercept {fmt(self.intercept)})"
            f" = {fmt(self.base)}",
        ]
        width = max([len(c["input"]) for c in self.contributions] + [5])
        for c in self.contributions:
            shown = fmt(c["value"]) if c["kind"] == "numeric" else c["level"]
            lines.append(
                f"  {c['input']:<{width}}  {str(shown):<12} link {c['link']:+.6f}  x{c['relativity']:.6f}"
            )
        lines.append(f"  prediction = {fmt(self.prediction)}")
        lines += [f"  warning: {w.message}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class Comparison:
    """Exact attribution of the log-ratio of two predictions.

    ``log(prediction_b / prediction_a) == input_part + model_part``, where
    ``input_part`` is the sum of ``input_attribution`` links (both records on
    model A) and ``model_part`` the sum of ``model_attribution`` links (record
    B on model B minus record B on model A).

    Attributes
    ----------
    prediction_a, prediction_b : float
    ratio, log_ratio : float
    changed_inputs : list of dict
        ``input``, ``a``, ``b`` for each input (and exposure) that differs.
    input_attribution : list of dict
        ``input``, ``link``, ``relativity`` per differing input (and the
        exposure), scored on model A; an input model A does not use has link 0.
        An interaction whose cell (or numeric value) moves with its parents
        has a line of its own; it is not listed in ``changed_inputs``.
    model_attribution : list of dict
        ``input`` (or ``"intercept"``), ``link``, ``relativity`` of the model
        change on record B; empty when both sides use the same model.
    input_part, model_part : float
        Log-scale totals of the two attributions.
    summary : str
        The comparison in words.
    warnings : list of ScoringIssue
    """

    prediction_a: float
    prediction_b: float
    ratio: float
    log_ratio: float
    changed_inputs: list
    input_attribution: list
    model_attribution: list
    input_part: float
    model_part: float
    summary: str
    warnings: list

    def to_dict(self):
        """Plain dict (JSON-serialisable) of the comparison.

        Returns
        -------
        dict
        """
        return {
            "prediction_a": self.prediction_a,
            "prediction_b": self.prediction_b,
            "ratio": self.ratio,
            "log_ratio": self.log_ratio,
            "changed_inputs": [jsonable(c) for c in self.changed_inputs],
            "input_attribution": [jsonable(c) for c in self.input_attribution],
            "model_attribution": [jsonable(c) for c in self.model_attribution],
            "input_part": self.input_part,
            "model_part": self.model_part,
            "summary": self.summary,
            "warnings": [w.message for w in self.warnings],
        }

    def __str__(self):
        return self.summary


def jsonable(d: dict) -> dict:
    """Copy of ``d`` with numpy scalars as Python numbers and other objects as text."""
    out = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif not isinstance(v, (str, int, float, bool, type(None))):
            v = str(v)
        out[k] = v
    return out
