"""Exact attribution of the log-ratio of two predictions, from their explanations."""

from __future__ import annotations

import math

from ._inputs import record_value, same_raw
from ._results import Comparison, Explanation
from ._text import fmt, short

__all__ = ["build_comparison"]


def _term(name: str, link: float) -> dict:
    return {"input": name, "link": link, "relativity": math.exp(link)}


def _same_number(a: object, b: object) -> bool:
    a, b = float(a), float(b)
    return a == b or (math.isnan(a) and math.isnan(b))


def _input_changes(records: tuple, names: list, xa: Explanation, xb: Explanation) -> tuple:
    """Inputs that differ between the records, and their effect on model A."""
    ca = {c["input"]: c for c in xa.contributions}
    cb = {c["input"]: c for c in xb.contributions}
    changed, attribution = [], []
    for name in names:
        if name in ca and ca[name]["kind"] == "interaction":
            # not an input: its own line when its cell or value moves with a parent
            if ca[name]["level"] != cb[name]["level"] or ca[name]["value"] != cb[name]["value"]:
                attribution.append(_term(name, cb[name]["link"] - ca[name]["link"]))
            continue
        if name in ca:
            va, vb = ca[name]["value"], cb[name]["value"]
            if ca[name]["kind"] == "factor":
                # two different unseen levels both score at the base level, yet they differ
                same = ca[name]["level"] == cb[name]["level"] and same_raw(va, vb)
            else:
                same = _same_number(va, vb) if va is not None and vb is not None else va is vb
        else:
            va, vb = record_value(records[0], name), record_value(records[1], name)
            same = same_raw(va, vb)
        if same:
            continue
        changed.append({"input": name, "a": va, "b": vb})
        # an input model A does not use changes nothing on it
        attribution.append(_term(name, cb[name]["link"] - ca[name]["link"] if name in ca else 0.0))
    if xa.exposure != xb.exposure:
        changed.append({"input": "exposure", "a": xa.exposure, "b": xb.exposure})
        attribution.append(_term("exposure", math.log(xb.exposure) - math.log(xa.exposure)))
    return changed, attribution


def build_comparison(records: tuple, names: list, explanations: tuple, labels: tuple,
                     intercepts: tuple, issues: list) -> Comparison:
    """Assemble a :class:`Comparison` from the explanations of both records.

    Parameters
    ----------
    records : tuple
        Record A and record B as given.
    names : list of str
        Inputs of model A, then those only model B has.
    explanations : tuple of Explanation
        Record A on model A, record B on model A, record B on model B (the
        last is the second when both sides use one model).
    labels : tuple of str
        ``"model_id version v"`` of model A and model B (``None`` for one model).
    intercepts : tuple of float
        Intercepts of model A and model B.
    issues : list of ScoringIssue
        Caveats of the three scorings.

    Returns
    -------
    Comparison
    """
    xa, xb, xbb = explanations
    changed, input_attr = _input_changes(records, names, xa, xb)
    model_attr = []
    if labels[1] is not None:
        cb = {c["input"]: c["link"] for c in xb.contributions}
        cbb = {c["input"]: c["link"] for c in xbb.contributions}
        model_attr.append(_term("intercept", intercepts[1] - intercepts[0]))
        model_attr += [_term(name, cbb.get(name, 0.0) - cb.get(name, 0.0)) for name in names]
    input_part = math.fsum(a["link"] for a in input_attr)
    model_part = math.fsum(a["link"] for a in model_attr)
    pa, pb = xa.prediction, xbb.prediction
    own = {c["input"] for c in xa.contributions} | {"exposure"}
    summary = _summary(pa, pb, labels, changed, input_attr, model_attr, input_part, model_part, own)
    seen = set()
    issues = [i for i in issues if not (i.message in seen or seen.add(i.message))]
    if issues:
        summary += "\n" + "\n".join(f"Warning: {i.message}" for i in issues)
    return Comparison(
        prediction_a=pa,
        prediction_b=pb,
        ratio=pb / pa,
        log_ratio=math.log(pb) - math.log(pa),
        changed_inputs=changed,
        input_attribution=input_attr,
        model_attribution=model_attr,
        input_part=input_part,
        model_part=model_part,
        summary=summary,
        warnings=issues,
    )


def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.2f}%"


def _summary(pa, pb, labels, changed, input_attr, model_attr, input_part, model_part, own) -> str:
    label_a, label_b = labels
    lines = [f"Prediction A {fmt(pa)}, prediction B {fmt(pb)}: ratio {pb / pa:.6f} ({_pct(pb / pa)})."]
    if label_b is None:
        lines[0] += f" Both scored on model {label_a}."
    if changed:
        lines.append("Inputs that differ: " + "; ".join(
            f"{c['input']} {short(c['a'], 30)} -> {short(c['b'], 30)}" for c in changed) + ".")
    else:
        lines.append("The inputs are the same.")
    if input_attr:
        parts = ", ".join(f"{a['input']} x{a['relativity']:.6f}"
                          + ("" if a["input"] in own else " (not an input of this model)")
                          for a in input_attr)
        lines.append(f"Due to the input changes (scored on model {label_a}): "
                     f"x{math.exp(input_part):.6f} ({parts}).")
    if label_b is not None:
        moved = [a for a in model_attr if a["link"] != 0.0]
        parts = ", ".join(f"{a['input']} x{a['relativity']:.6f}" for a in moved) or "no change"
        lines.append(f"Due to the model change from {label_a} to {label_b} "
                     f"(same inputs as B): x{math.exp(model_part):.6f} ({parts}).")
        lines.append(f"Total x{pb / pa:.6f} = input changes x{math.exp(input_part):.6f} "
                     f"times model change x{math.exp(model_part):.6f}.")
    return "\n".join(lines)
