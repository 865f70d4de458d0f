"""Ledger URLs: parsing, redaction, and opening the matching backend."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

from ._ledger import Ledger, SQLiteLedger

_SCHEMES = "sqlite:///PATH (relative; sqlite:////abs/path for an absolute path) or postgresql://..."


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``.

    Parameters
    ----------
    url : str

    Returns
    -------
    str
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def check_url(url: object) -> str:
    """Check that ``url`` names a ledger backend this package has.

    Parameters
    ----------
    url : object

    Returns
    -------
    str
        The URL.

    Raises
    ------
    TypeError
        If ``url`` is not text.
    ValueError
        If the scheme is not ``sqlite:///`` or ``postgresql://``.
    """
    if not isinstance(url, str):
        raise TypeError(f"ledger URL must be text, got {type(url).__name__}")
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return url
    if re.match(r"postgres(ql)?://", url):
        return url
    raise ValueError(f"ledger URL must be {_SCHEMES}, got {redact(url)!r}")


def open_ledger(url: str, durability: str = "full") -> Ledger:
    """Open (creating the tables if needed) the ledger at ``url``.

    Parameters
    ----------
    url : str
        ``sqlite:///path/to/file.db`` or ``postgresql://user@host:port/db``.
    durability : {"full", "normal"}
        ``"full"``: a commit is on disk before its price is returned.
        ``"normal"``: it survives the service being killed, not a power
        loss (see :class:`SQLiteLedger` and the PostgreSQL backend).

    Returns
    -------
    Ledger

    Raises
    ------
    ValueError, TypeError
        For a malformed URL.
    LedgerError
        If the database cannot be opened.
    """
    check_url(url)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if os.path.isdir(path):
            raise ValueError(f"ledger URL {url!r} names a folder, not a database file")
        return SQLiteLedger(path, url, durability)
    from ._postgres import PostgresLedger

    return PostgresLedger(url, redact(url), durability=durability)
