"""The error answer of a refused request: status, ``{"error": message}`` and headers."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError


def refusal(exc: HTTPException | RequestValidationError) -> tuple:
    """The answer to a refused request.

    Parameters
    ----------
    exc : HTTPException or RequestValidationError

    Returns
    -------
    tuple
        ``(status, {"error": message}, headers or None)``; an unparsable body is 400,
        an invalid one 422 naming up to ten fields.
    """
    if isinstance(exc, HTTPException):
        return exc.status_code, {"error": str(exc.detail)}, exc.headers
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, {"error": "the request body is not valid JSON"}, None
    parts = []
    for e in errors[:10]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return 422, {"error": "invalid request: " + "; ".join(parts)}, None
