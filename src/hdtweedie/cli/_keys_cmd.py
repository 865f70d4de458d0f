"""``hdtweedie keys create``: make an API key for the pricing service."""

from __future__ import annotations

import argparse
import sys

from ._common import UserError, action_parsers, one_line
from ._report import Reporter


def add_keys(sub, common) -> None:
    """Register ``keys create`` with the command parser.

    Parameters
    ----------
    sub : argparse subparsers action
    common : argparse.ArgumentParser
        The shared options.
    """
    from ..service._keys import ROLES

    cmds = action_parsers(sub, common, "keys", "create API keys for 'hdtweedie serve'")
    c = cmds.add_parser("create", parents=[common], help="print a new key once; store only its hash",
                        description="Print a new API key on standard output (shown only this once) and "
                                    "add its SHA-256 to FILE.  Role 'predict' may only predict; "
                                    "'support' may explain, compare, and read history and models.")
    c.add_argument("file", metavar="FILE", help="key file (created if absent)")
    c.add_argument("--role", required=True, choices=ROLES)
    c.add_argument("--name", required=True, help="who holds the key (unique in FILE)")
    c.set_defaults(func=cmd_create)


def cmd_create(args: argparse.Namespace, rep: Reporter) -> int:
    """Create a key, store its hash and print it.

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
        For a duplicate name or a malformed key file.
    """
    from ..service._keys import create_key

    try:
        key = create_key(args.file, args.role, args.name)
    except ValueError as exc:
        raise UserError(one_line(exc)) from None
    rep.result(key)
    if not rep.quiet:
        print(f"stored the SHA-256 of the {args.role} key {args.name!r} in {args.file}; "
              "the key is not shown again", file=sys.stderr)
    return 0
