"""``hdtweedie serve``: run the pricing service."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import socket
import sys
import tempfile

from ._common import UserError, int_at_least, load_model, one_line
from ._report import PROG, Reporter

_SANDBOX_ENV = "HDTWEEDIE_SANDBOX"
_MLFLOW_SCHEMES = ("models:/", "runs:/")


def add_serve(sub, common) -> None:
    """Register ``serve`` with the command parser.

    Parameters
    ----------
    sub : argparse subparsers action
    common : argparse.ArgumentParser
        The shared options.
    """
    p = sub.add_parser("serve", parents=[common], help="run the HTTP pricing service with its ledger",
                       description="Serve predictions, explanations and comparisons over HTTP.  Every "
                                   "prediction is committed to the hash-chained ledger before it is "
                                   "returned.  The first model is the default.  HDTWEEDIE_SANDBOX=1 "
                                   "marks every event as sandbox.")
    p.add_argument("models", nargs="+", metavar="MODEL.json",
                   help="model files or MLflow model URIs such as models:/NAME@champion "
                        "(the first is the default)")
    p.add_argument("--ledger", required=True, metavar="URL",
                   help="sqlite:///ledger.db (relative path; sqlite:////abs/path.db) or postgresql://...")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int_at_least("--port", 0), default=8000,
                   help="port (default: 8000; 0: any free port, printed at start)")
    p.add_argument("--workers", type=int_at_least("--workers", 1), default=1, help="server processes")
    p.add_argument("--keys", metavar="FILE", help="key file: require 'Authorization: Bearer KEY'")
    p.add_argument("--event-log", choices=["-"], help="'-': also write each event as a JSON line to stdout")
    p.add_argument("--shadow", metavar="MODEL.json",
                   help="candidate model scored and logged beside production")
    p.add_argument("--max-body-bytes", type=int_at_least("--max-body-bytes", 1024), default=1 << 20,
                   help="largest request body (default: 1 MiB)")
    p.add_argument("--durability", choices=["full", "normal"], default="full",
                   help="full (default): each commit is flushed to disk before its price is returned; "
                        "normal: it survives the service being killed, not a power loss")
    p.set_defaults(func=cmd_serve)


def _sandbox() -> bool:
    value = os.environ.get(_SANDBOX_ENV, "").strip()
    if value not in ("", "0", "1"):
        raise UserError(f"{_SANDBOX_ENV} must be 1 (sandbox) or 0/unset, got {value!r}")
    return value == "1"


def _model_path(ref: str) -> str:
    """A model file: an MLflow model URI (``models:/NAME@alias``, ``runs:/...``) is downloaded first."""
    if not ref.startswith(_MLFLOW_SCHEMES):
        return ref
    try:
        from .. import mlflow as hdt_mlflow

        folder = tempfile.mkdtemp(prefix="hdtweedie-serve-")
        atexit.register(shutil.rmtree, folder, True)  # the service reads it until it stops
        return hdt_mlflow.model_file(ref, folder)
    except ImportError as exc:
        raise UserError(one_line(exc)) from None
    except Exception as exc:  # MLflow raises its own kinds for an unknown model, alias or store
        raise UserError(f"cannot resolve {ref}: {one_line(exc)}") from None


def _config(args: argparse.Namespace):
    from ..service import ServiceConfig

    args.models = [_model_path(ref) for ref in args.models]
    args.shadow = args.shadow and _model_path(args.shadow)
    for path in [*args.models, *([args.shadow] if args.shadow else [])]:
        load_model(path)  # one-line errors before anything starts
    try:
        return ServiceConfig(models=tuple(args.models), ledger=args.ledger, host=args.host, port=args.port,
                             workers=args.workers, keys=args.keys, event_log=args.event_log == "-",
                             shadow=args.shadow, sandbox=_sandbox(), max_body_bytes=args.max_body_bytes,
                             durability=args.durability)
    except (ValueError, TypeError) as exc:
        raise UserError(one_line(exc)) from None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then (else +40 ms a reply).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def cmd_serve(args: argparse.Namespace, rep: Reporter) -> int:
    """Run ``hdtweedie serve`` until interrupted.

    Parameters
    ----------
    args : argparse.Namespace
    rep : Reporter

    Returns
    -------
    int
        0 after a clean shutdown.

    Raises
    ------
    UserError
        For a bad model, key file, ledger or address.
    """
    try:
        import uvicorn

        from ..service import LedgerError, create_app
        from ..service._app import settle_heap
        from ..service._config import CONFIG_ENV
    except ImportError as exc:
        raise UserError(f"serve needs the serve extra (pip install 'hdtweedie[serve]'): {exc}") from None
    config = _config(args)
    try:
        app = create_app(config)  # checks the keys and the ledger in this process
    except LedgerError as exc:
        raise UserError(one_line(exc)) from None
    sock = _bind(config.host, config.port)
    port = sock.getsockname()[1]
    print(f"{PROG} serve: listening on http://{config.host}:{port} ({config.describe()})",
          file=sys.stderr, flush=True)
    common = {"log_level": "warning", "access_log": False, "proxy_headers": False,
              "timeout_graceful_shutdown": 5}
    if config.workers == 1:
        settle_heap()
        uvicorn.Server(uvicorn.Config(app, **common)).run(sockets=[sock])
        return 0
    app.state.ledger.close()
    sock.close()
    os.environ[CONFIG_ENV] = config.to_json()
    uvicorn.run("hdtweedie.service._app:app_from_environment", factory=True, host=config.host, port=port,
                workers=config.workers, **common)
    return 0
