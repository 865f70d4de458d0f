"""API keys: created once, stored only as SHA-256 hashes, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets

from .._atomic import atomic_write, opened
from ._events import utc_now

#: Roles and the endpoints they may call (``metrics`` is open to both).
ROLES = ("predict", "support")
_FORMAT = "hdtweedie-keys"
_PREFIX = "hdt_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def read_keys(path: str | os.PathLike) -> list:
    """The key entries of a key file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    list of dict
        ``name``, ``role``, ``sha256`` and ``created_at`` per key.

    Raises
    ------
    ValueError
        If the file is not a key file.
    OSError
        If it cannot be read.
    """
    with opened(lambda: open(path, encoding="utf-8")) as f:
        try:
            doc = json.load(f)
        except ValueError as exc:
            raise ValueError(f"key file {os.fspath(path)!r} is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or not isinstance(doc.get("keys"), list):
        raise ValueError(f"{os.fspath(path)!r} is not an hdtweedie key file")
    for entry in doc["keys"]:
        if (not isinstance(entry, dict) or entry.get("role") not in ROLES
                or not isinstance(entry.get("sha256"), str) or len(entry["sha256"]) != 64):
            raise ValueError(f"key file {os.fspath(path)!r} has a malformed entry: {entry!r}")
    return doc["keys"]


def create_key(path: str | os.PathLike, role: str, name: str) -> str:
    """Add a new key to a key file (created if absent) and return the key.

    Only the key's SHA-256 is stored: the key itself is shown once.

    Parameters
    ----------
    path : str or path-like
        The key file (written whole or not at all; a new file is readable by its owner only).
    role : {"predict", "support"}
    name : str
        Who or what holds the key (unique in the file).

    Returns
    -------
    str
        The new key.

    Raises
    ------
    ValueError
        For an unknown role, an empty or duplicate name, or a malformed file.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValueError(f"name must be non-empty text of at most 200 characters, got {name!r}")
    keys = read_keys(path) if os.path.exists(path) else []
    if any(k.get("name") == name for k in keys):
        raise ValueError(f"a key named {name!r} already exists in {os.fspath(path)!r}")
    key = _PREFIX + secrets.token_urlsafe(32)
    keys.append({"name": name, "role": role, "sha256": _digest(key), "created_at": utc_now()})
    with atomic_write(path) as f:
        json.dump({"format": _FORMAT, "keys": keys}, f, indent=2)
        f.write("\n")
    return key


class KeyRing:
    """The keys a service accepts.

    Parameters
    ----------
    entries : list of dict
        As returned by :func:`read_keys`.
    """

    def __init__(self, entries: list):
        self._entries = [(bytes.fromhex(e["sha256"]), e["name"], e["role"]) for e in entries]

    def lookup(self, key: str) -> tuple | None:
        """The ``(name, role)`` of a presented key, or None.

        Every stored hash is compared, in constant time, whatever matches.

        Parameters
        ----------
        key : str

        Returns
        -------
        tuple or None
        """
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found = None
        for stored, name, role in self._entries:
            if hmac.compare_digest(stored, digest):
                found = (name, role)
        return found
