"""ASGI middleware: a request body limit, and per-endpoint request counts and latency."""

from __future__ import annotations

import json
import time

from ._metrics import Metrics


async def _send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Refuse bodies over ``max_bytes`` with 413 and count every request by route and status.

    Parameters
    ----------
    app : ASGI application
    metrics : Metrics
    max_bytes : int
    """

    def __init__(self, app, metrics: Metrics, max_bytes: int):
        self.app = app
        self.metrics = metrics
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        """Run one ASGI request.

        Parameters
        ----------
        scope : dict
        receive : callable
        send : callable

        Returns
        -------
        None
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def counting_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            replay = await self._read_body(scope, receive)
            if replay is None:
                await _send_json(counting_send, 413, {
                    "error": f"request body larger than the limit of {self.max_bytes} bytes"})
            else:
                await self.app(scope, replay, counting_send)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.request(endpoint, status[0], time.perf_counter() - start)

    async def _read_body(self, scope, receive):
        """The body, read up to the limit, as a new ``receive``; None if it is too large."""
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                return None
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
