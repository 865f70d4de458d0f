"""``hdtweedie ledger verify`` and ``ledger export``: check and copy the prediction ledger."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys

from .._atomic import atomic_write
from ._common import UserError, action_parsers, one_line
from ._report import Reporter


def add_ledger(sub, common) -> None:
    """Register ``ledger verify`` and ``ledger export`` with the command parser.

    Parameters
    ----------
    sub : argparse subparsers action
    common : argparse.ArgumentParser
        The shared options.
    """
    cmds = action_parsers(sub, common, "ledger", "verify or export the prediction ledger")
    v = cmds.add_parser("verify", parents=[common], help="check every event's hash and the chain",
                        description="Check that no event was edited, deleted or reordered; exit 1 "
                                    "naming the first bad event.")
    v.add_argument("url", metavar="URL", help="sqlite:///path.db or postgresql://...")
    v.set_defaults(func=cmd_verify)
    e = cmds.add_parser("export", parents=[common], help="write events as JSON lines")
    e.add_argument("url", metavar="URL")
    e.add_argument("--since", metavar="WHEN", type=_when,
                   help="only events from this UTC date or time (ISO 8601, e.g. 2025-01-31 or "
                        "2025-01-31T12:00:00Z)")
    e.add_argument("--out", required=True, metavar="FILE.jsonl", help="output file ('-': stdout)")
    e.set_defaults(func=cmd_export)


def _when(text: str) -> str:
    from ..service._events import utc_text

    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since must be an ISO 8601 date or time, got {text!r}") from None
    return utc_text(when)


def _open(url: str):
    from ..service import LedgerError, open_ledger

    try:
        return open_ledger(url)
    except (LedgerError, ValueError, TypeError) as exc:
        raise UserError(one_line(exc)) from None


def cmd_verify(args: argparse.Namespace, rep: Reporter) -> int:
    """Verify a ledger's hash chain.

    Parameters
    ----------
    args : argparse.Namespace
    rep : Reporter

    Returns
    -------
    int
        0 when the ledger is intact.

    Raises
    ------
    UserError
        Naming the first bad event (exit status 1), or when the ledger cannot be read.
    """
    from ..service import LedgerError

    ledger = _open(args.url)
    try:
        report = ledger.verify()
    except LedgerError as exc:
        raise UserError(one_line(exc)) from None
    finally:
        ledger.close()
    if not report.ok:
        bad = report.first_bad
        where = f"event {bad['seq']}"
        if bad["prediction_id"]:
            where += f" (prediction {bad['prediction_id']})"
        raise UserError(f"ledger {ledger.url}: {where}: {bad['problem']}; {report.events} event(s) "
                        "before it are intact")
    rep.result(f"ledger {ledger.url}: {report.events} event(s), chain intact")
    return 0


def cmd_export(args: argparse.Namespace, rep: Reporter) -> int:
    """Write a ledger's events (content and hash) as JSON lines.

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
        When the ledger cannot be read; the output file is then left as it was.
    """
    from ..service import LedgerError
    from ..service._events import event_text

    ledger = _open(args.url)
    n = 0
    try:
        with (contextlib.nullcontext(sys.stdout) if args.out == "-" else atomic_write(args.out)) as f:
            for event in ledger.events(args.since):
                f.write(event_text(event) + "\n")
                n += 1
    except LedgerError as exc:
        raise UserError(one_line(exc)) from None
    finally:
        ledger.close()
    if args.out != "-":
        rep.say(f"exported {n} event(s) to {args.out}")
    return 0
