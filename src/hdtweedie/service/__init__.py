"""``hdtweedie serve``: an HTTP pricing service with a hash-chained prediction ledger.

Every price is committed to the ledger before it is returned (a failed write
answers 503 and no price); concurrent predictions are committed together
(group commit) in the order of the chain, and ``durability`` chooses whether
each commit is on disk (``"full"``) or only safe from the service being
killed (``"normal"``) when its price is returned.  Each event carries the
SHA-256 of its own content and of the previous event, so
:meth:`Ledger.verify` finds any edited, deleted or reordered event.  Logged
predictions can be explained and compared later from the ledger alone: the
scorer (:mod:`hdtweedie.scoring`) recomputes them from the logged inputs on
the model with the logged hash.

Needs the ``serve`` extra (FastAPI, uvicorn; psycopg for PostgreSQL); the
ledger and key functions need only the standard library (and psycopg for
PostgreSQL), so ``hdtweedie ledger verify`` runs without FastAPI.
"""

from ._config import ServiceConfig
from ._events import VerifyReport
from ._keys import ROLES, create_key, read_keys
from ._ledger import Ledger, LedgerError
from ._urls import open_ledger

__all__ = ["ROLES", "Ledger", "LedgerError", "ServiceConfig", "VerifyReport", "create_app", "create_key",
           "open_ledger", "read_keys"]


def __getattr__(name: str):
    # FastAPI is imported only when the app is asked for.
    if name == "create_app":
        from ._app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
