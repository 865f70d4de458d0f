"""``POST /predict``: price, commit to the ledger, then answer.

:class:`FastPredict` serves the route as plain ASGI, ahead of FastAPI's
router and its per-request dependency and serialisation layers (most of the
time of a request); the FastAPI route documents it and runs the same
:meth:`PredictHandler.predict`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request

from ._ledger import Ledger, LedgerError
from ._metrics import Metrics
from ._pricing import new_event, price
from ._refusals import refusal
from ._registry import Registry, UnknownModel, model_label
from ._schemas import PredictRequest

try:  # optional: several times faster than json for the response
    from orjson import dumps as _dumps
except ImportError:  # pragma: no cover - depends on the installation
    def _dumps(payload: dict) -> bytes:
        return json.dumps(payload, separators=(",", ":")).encode()

_HEADERS = [(b"content-type", b"application/json")]
_RESULT = ("prediction_id", "policy_id", "model_id", "model_version", "model_hash", "prediction", "link",
           "exposure", "warnings", "sandbox")


def result(event: dict) -> dict:
    """The response fields of one stored production event.

    Parameters
    ----------
    event : dict

    Returns
    -------
    dict
    """
    return {k: event[k] for k in _RESULT}


class PredictHandler:
    """The ASGI app serving ``POST /predict``.

    Parameters
    ----------
    registry : Registry
    ledger : Ledger
    metrics : Metrics
    check_key : callable
        ``await check_key(request)``: the key name (None without keys); raises HTTPException.
    log : callable
        Called with the committed events (the optional event log).
    sandbox : bool
    """

    def __init__(self, registry: Registry, ledger: Ledger, metrics: Metrics,
                 check_key: Callable[[Request], Awaitable[str | None]], log: Callable[[list], None],
                 sandbox: bool):
        self.registry, self.ledger, self.metrics = registry, ledger, metrics
        self.check_key, self.log, self.sandbox = check_key, log, sandbox

    async def __call__(self, scope, receive, send) -> None:
        """Serve one request, refusals included.

        Parameters
        ----------
        scope : dict
        receive : callable
        send : callable
        """
        start = time.perf_counter()
        request = Request(scope, receive)
        try:
            who = await self.check_key(request)
            payload = await self.predict(_parse(await request.body()), who, start)
            status, headers = 200, None
        except (HTTPException, RequestValidationError) as exc:
            status, payload, headers = refusal(exc)
        data = _dumps(payload)
        head = [*_HEADERS, (b"content-length", str(len(data)).encode())]
        head += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": data})

    async def predict(self, body: PredictRequest, who: str | None, start: float) -> dict:
        """Price the request's risks, commit their events and return the response fields.

        Parameters
        ----------
        body : PredictRequest
        who : str or None
            The key name.
        start : float
            ``time.perf_counter()`` when the request arrived (for ``duration_ms``).

        Returns
        -------
        dict
            One result, or ``{"results": [...]}`` for ``records``.

        Raises
        ------
        fastapi.HTTPException
            422 for a risk that cannot be priced, 503 if the ledger refused the events.
        """
        try:
            model = self.registry.resolve(body.model)
        except UnknownModel as exc:
            raise HTTPException(422, str(exc)) from None
        batch = body.records is not None
        items = ([(it.policy_id or body.policy_id, it.record, it.exposure) for it in body.records] if batch
                 else [(body.policy_id, body.record, body.exposure)])
        events = []
        for i, (policy_id, record, exposure) in enumerate(items):
            try:
                priced = price(model, record, exposure)
            except (ValueError, TypeError) as exc:
                where = f"records[{i}]: " if batch else ""
                raise HTTPException(422, f"{where}cannot price this risk on {model_label(model)}: "
                                         f"{exc}") from None
            request = {"policy_id": policy_id, "transaction_type": body.transaction_type,
                       "caller_id": body.caller_id, "key_name": who}
            events.append(new_event(request, priced, self.sandbox))
            if self.registry.shadow is not None:
                events += self._shadow(request, record, exposure, events[-1])
        try:
            stored = await self.ledger.append_async(events)
        except LedgerError as exc:
            self.metrics.ledger_failure()
            raise HTTPException(503, "the prediction could not be logged, so no price is given "
                                     f"({exc})") from None
        self.log(stored)
        production = [e for e in stored if not e["shadow"]]
        self.metrics.predictions(len(production), sum(len(e["warnings"]) for e in production))
        results = [result(e) for e in production]
        took = (time.perf_counter() - start) * 1000.0
        return {"results": results, "duration_ms": took} if batch else {**results[0], "duration_ms": took}

    def _shadow(self, request: dict, record: dict, exposure, production: dict) -> list:
        """The shadow model's event for a production event (none if the candidate cannot price it)."""
        try:
            priced = price(self.registry.shadow, record, exposure)
        except (ValueError, TypeError) as exc:
            production["shadow_error"] = str(exc)
            return []
        return [new_event(request, priced, self.sandbox, shadow_of=production["prediction_id"])]


def _parse(raw: bytes) -> PredictRequest:
    """The request body, validated; errors as FastAPI reports an invalid body."""
    try:
        return PredictRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


class FastPredict:
    """ASGI middleware answering ``POST /predict`` with a :class:`PredictHandler`.

    Parameters
    ----------
    app : ASGI application
        Everything else.
    handler : PredictHandler
    route : starlette route
        The documented ``/predict`` route (set in the scope, for the metrics).
    """

    def __init__(self, app, handler: PredictHandler, route):
        self.app, self.handler, self.route = app, handler, route

    async def __call__(self, scope, receive, send) -> None:
        """Answer ``POST /predict``; pass any other call on to ``app``.

        Parameters
        ----------
        scope, receive, send
            The ASGI call.
        """
        if scope["type"] == "http" and scope["path"] == "/predict" and scope["method"] == "POST":
            scope["route"] = self.route
            await self.handler(scope, receive, send)
        else:
            await self.app(scope, receive, send)
