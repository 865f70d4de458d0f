"""The service configuration: one object, checked once, passed to the app factory."""

from __future__ import annotations

import dataclasses
import json
import os

from ._ledger import check_durability
from ._urls import check_url, redact

#: Hosts a service without keys may listen on.
LOOPBACK = ("127.0.0.1", "::1", "localhost")
#: Default largest request body, in bytes.
MAX_BODY_BYTES = 1 << 20
#: Environment variable carrying the configuration to worker processes.
CONFIG_ENV = "HDTWEEDIE_SERVICE_CONFIG"


@dataclasses.dataclass(frozen=True)
class ServiceConfig:
    """Everything ``hdtweedie serve`` is started with.

    Parameters
    ----------
    models : tuple of str
        Model files; the first is the default model.
    ledger : str
        Ledger URL (``sqlite:///...`` or ``postgresql://...``).
    host : str
        Address to listen on; without ``keys`` only loopback is allowed.
    port : int
        Port (0 to 65535).
    workers : int
        Server processes.
    keys : str or None
        Key file; when given every endpoint but ``/health`` needs a key.
    event_log : bool
        Also write every committed event as one JSON line to standard output.
    shadow : str or None
        Candidate model file scored and logged beside production.
    sandbox : bool
        Mark every event as sandbox.
    max_body_bytes : int
        Largest request body accepted.
    durability : {"full", "normal"}
        ``"full"``: every commit is flushed to disk before its price is
        returned.  ``"normal"``: it survives the service being killed, not
        a power loss (see :func:`open_ledger`).
    """

    models: tuple
    ledger: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    keys: str | None = None
    event_log: bool = False
    shadow: str | None = None
    sandbox: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    durability: str = "full"

    def __post_init__(self):
        object.__setattr__(self, "models", tuple(os.fspath(m) for m in self.models))
        if not self.models:
            raise ValueError("models: give at least one model file")
        check_url(self.ledger)
        check_durability(self.durability)
        for name in ("port", "workers", "max_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if not 1 <= self.workers <= 64:
            raise ValueError(f"workers must be in 1..64, got {self.workers}")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.keys is None and self.host not in LOOPBACK:
            raise ValueError(f"host {self.host!r}: without --keys the service listens on loopback only "
                             f"({', '.join(LOOPBACK)}); create keys with 'hdtweedie keys create'")

    def describe(self) -> str:
        """One line for the start-up message (no secrets).

        Returns
        -------
        str
        """
        extra = [f"shadow {self.shadow}"] if self.shadow else []
        extra += ["keys required"] if self.keys else ["no keys (loopback only)"]
        extra += [f"durability {self.durability}"]
        extra += ["SANDBOX"] if self.sandbox else []
        return (f"{len(self.models)} model(s), ledger {redact(self.ledger)}, {self.workers} worker(s), "
                + ", ".join(extra))

    def to_json(self) -> str:
        """The configuration as JSON (for worker processes).

        Returns
        -------
        str
        """
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServiceConfig:
        """The configuration written by :meth:`to_json`.

        Parameters
        ----------
        text : str

        Returns
        -------
        ServiceConfig
        """
        return cls(**json.loads(text))
