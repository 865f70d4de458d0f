"""``hdtweedie compose``: multiply a frequency and a severity model file into a pure premium file."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from .. import tables
from ._common import UserError, load_model, one_line
from ._report import Reporter

_ROLE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_USUAL_POWER = {"frequency": (1.0, "Poisson"), "severity": (2.0, "Gamma")}


def add_compose(sub, common) -> None:
    """Register ``compose`` with the command parser.

    Parameters
    ----------
    sub : argparse subparsers action
    common : argparse.ArgumentParser
        The shared options.
    """
    p = sub.add_parser("compose", parents=[common],
                       help="multiply a frequency and a severity model into one pure premium model file",
                       description="Write a composite model file predicting exposure x frequency x "
                                   "severity (x further steps): each part embedded whole with its own "
                                   "hash, the composite hashed over everything.  'score', 'explain', "
                                   "'compare', 'factor-table' and 'serve' take it as any model file; "
                                   "the exposure applies to the frequency part only.")
    p.add_argument("frequency", metavar="FREQ.json", help="claim frequency model (claims per exposure)")
    p.add_argument("severity", metavar="SEV.json", help="claim severity model (cost per claim)")
    p.add_argument("--out", required=True, metavar="PURE_PREMIUM.json", help="composite model file to write")
    p.add_argument("--step", action="append", default=[], metavar="ROLE=MODEL.json",
                   help="a further multiplicative part, scored per unit (repeatable), "
                        "e.g. inflation=infl.json")
    p.add_argument("--id", dest="model_id", metavar="ID",
                   help="model id of the composite (default: the file name)")
    p.add_argument("--version", dest="model_version", default="1", metavar="V",
                   help="version of the composite (default: 1)")
    p.set_defaults(func=cmd_compose)


def _steps(values: list) -> list:
    steps = []
    for text in values:
        role, sep, path = text.partition("=")
        if not sep or not path or _ROLE.fullmatch(role) is None:
            raise UserError(f"--step must be ROLE=MODEL.json with a lower-case role (letters, digits, _), "
                            f"got {text!r}")
        if role in ("frequency", "severity") or role in [r for r, _ in steps]:
            raise UserError(f"--step: the role {role!r} is used twice")
        steps.append((role, path))
    return steps


def _part(role: str, path: str, rep: Reporter):
    from ..scoring import ScoringModel

    model = load_model(path)
    if not isinstance(model, ScoringModel):
        raise UserError(f"{path} is already a composite model file; compose single model files only")
    usual = _USUAL_POWER.get(role)
    if usual is not None and model.power != usual[0]:
        rep.warn(f"the {role} model {path} has Tweedie power {model.power:g}; a {role} model is usually "
                 f"{usual[1]} (power {usual[0]:g})")
    return model


def cmd_compose(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie compose``; return the exit status.

    Parameters
    ----------
    args : argparse.Namespace
    rep : Reporter

    Returns
    -------
    int
        0 on success.

    Raises
    ------
    UserError
        For a part that does not load or is a composite, parts that cannot
        be scored together, a bad ``--step`` or an output that is an input.
    """
    from ..scoring import compose_models

    named = [("frequency", args.frequency), ("severity", args.severity), *_steps(args.step)]
    tables.refuse_same_file(args.out, [path for _, path in named])
    parts = {role: _part(role, path, rep) for role, path in named}
    model_id = args.model_id if args.model_id is not None else Path(args.out).stem
    try:
        composite = compose_models(args.out, parts.pop("frequency"), parts.pop("severity"), steps=parts,
                                   model_id=model_id, version=args.model_version)
    except (ValueError, TypeError) as exc:
        raise UserError(f"cannot compose: {one_line(exc)}") from None
    for gap in composite.level_gaps:
        rep.warn(gap)
    for role, m in composite.parts.items():
        rep.say(f"{role}: {m.model_id} version {m.version} (power {m.power:g}, "
                f"{len(m.required_inputs)} input(s) with weight)")
    rep.say(f"wrote {composite.model_id} version {composite.version} ({len(composite.input_names)} "
            f"input(s)) to {args.out}")
    return 0
