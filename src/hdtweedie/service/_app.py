"""The FastAPI application, built by :func:`create_app` from a :class:`ServiceConfig`."""

import contextlib
import datetime as dt
import gc
import os
import sys
import threading
import time
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse

from ._asgi import Guard
from ._config import CONFIG_ENV, ServiceConfig
from ._events import event_text, utc_text
from ._keys import KeyRing, read_keys
from ._ledger import Ledger, LedgerError
from ._metrics import Metrics
from ._predict import FastPredict, PredictHandler
from ._pricing import Conflict, check_intact, compare, history_entry, reexplain
from ._refusals import refusal
from ._registry import Registry, model_label
from ._schemas import (
    BatchPredictResponse,
    CompareRequest,
    CompareResponse,
    ErrorResponse,
    ExplainResponse,
    HealthResponse,
    HistoryResponse,
    ModelsResponse,
    PredictRequest,
    PredictResponse,
    TransactionType,
)
from ._urls import open_ledger

_HISTORY_LIMIT = 1000
_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 503)}


class _Auth:
    """The ``Authorization: Bearer`` check, as a FastAPI dependency per set of roles."""

    def __init__(self, keys: KeyRing | None):
        self.keys = keys

    def __call__(self, *roles: str):
        # async: a cheap check run on the event loop, not in the thread pool
        async def check(request: Request) -> str | None:
            if self.keys is None:
                return None
            header = request.headers.get("authorization", "")
            scheme, _, key = header.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise HTTPException(401, "missing API key: send 'Authorization: Bearer KEY'",
                                    headers={"WWW-Authenticate": "Bearer"})
            found = self.keys.lookup(key.strip())
            if found is None:
                raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
            name, role = found
            if role not in roles:
                raise HTTPException(403, f"key {name!r} has role {role!r}; this endpoint needs "
                                         f"{' or '.join(roles)}")
            return name

        return check


class _EventLog:
    """Committed events as JSON lines on standard output (one write per line)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._lock = threading.Lock()

    def write(self, events: list) -> None:
        if not self.enabled:
            return
        data = "".join(event_text(e) + "\n" for e in events).encode()
        with self._lock, contextlib.suppress(OSError):
            os.write(sys.stdout.fileno(), data)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    @app.exception_handler(RequestValidationError)
    async def refused(request: Request, exc: HTTPException | RequestValidationError):
        status, payload, headers = refusal(exc)
        return JSONResponse(payload, status_code=status, headers=headers)


def create_app(config: ServiceConfig, ledger: Ledger | None = None) -> FastAPI:
    """Build the pricing service.

    Parameters
    ----------
    config : ServiceConfig
    ledger : Ledger, optional
        An open ledger; by default the one at ``config.ledger`` is opened.

    Returns
    -------
    fastapi.FastAPI
        An ASGI application.

    Raises
    ------
    ModelFileError, ValueError, OSError
        If a model or the key file cannot be loaded.
    LedgerError
        If the ledger cannot be opened.
    """
    registry = Registry(config.models, config.shadow)
    keys = KeyRing(read_keys(config.keys)) if config.keys else None
    ledger = ledger if ledger is not None else open_ledger(config.ledger, config.durability)
    metrics = Metrics(config.sandbox)
    auth = _Auth(keys)
    log = _EventLog(config.event_log)
    Predictor = Annotated[str | None, Depends(auth("predict"))]
    Supporter = Annotated[str | None, Depends(auth("support"))]
    Anyone = Annotated[str | None, Depends(auth("predict", "support"))]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        ledger.close()

    app = FastAPI(title="hdtweedie pricing service", version=_version(), lifespan=lifespan,
                  openapi_url=None, docs_url=None, redoc_url=None,
                  description="Tweedie GLM prices, each committed to a hash-chained ledger before it is "
                              "returned; explain and compare logged predictions.")
    _error_handlers(app)
    app.state.ledger, app.state.registry, app.state.metrics = ledger, registry, metrics

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(who: Anyone):
        return app.openapi()

    handler = PredictHandler(registry, ledger, metrics, auth("predict"), log.write, config.sandbox)

    @app.post("/predict", response_model=PredictResponse | BatchPredictResponse, responses=_ERRORS)
    async def predict(body: PredictRequest, who: Predictor):
        """Price one risk or a list of risks; every price is logged before it is returned."""
        # FastPredict answers POST /predict before the router; this route documents it.
        return JSONResponse(await handler.predict(body, who, time.perf_counter()))

    @app.get("/explain/{prediction_id}", response_model=ExplainResponse, responses=_ERRORS)
    def explain(prediction_id: str, who: Supporter):
        """A logged prediction factor by factor, recomputed from the logged inputs and model."""
        body = _logged(ledger, prediction_id)
        try:
            return reexplain(registry, body)
        except Conflict as exc:
            raise HTTPException(409, str(exc)) from None

    @app.post("/compare", response_model=CompareResponse, responses=_ERRORS)
    def compare_predictions(body: CompareRequest, who: Supporter):
        """Attribute the difference between two logged predictions to each change, exactly."""
        a, b = _logged(ledger, body.prediction_a), _logged(ledger, body.prediction_b)
        try:
            return compare(registry, a, b)
        except Conflict as exc:
            raise HTTPException(409, str(exc)) from None
        except (ValueError, TypeError) as exc:
            raise HTTPException(422, f"cannot compare these predictions: {exc}") from None

    @app.get("/history", response_model=HistoryResponse, responses=_ERRORS)
    def history(who: Supporter, policy_id: Annotated[str, Query(min_length=1, max_length=200)],
                days: Annotated[int, Query(ge=1, le=3660)] = 30,
                transaction_type: TransactionType | None = None):
        """The predictions of one policy in the last ``days`` days, newest first."""
        since = utc_text(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days))
        try:
            rows = ledger.history(policy_id, since, transaction_type, _HISTORY_LIMIT + 1)
        except LedgerError as exc:
            raise HTTPException(503, str(exc)) from None
        return {"policy_id": policy_id, "days": days, "truncated": len(rows) > _HISTORY_LIMIT,
                "events": [history_entry(r) for r in rows[:_HISTORY_LIMIT]]}

    @app.get("/models", response_model=ModelsResponse, responses=_ERRORS)
    def models(who: Supporter):
        """The loaded models with their versions and hashes; the default first."""
        return {"models": registry.describe(), "default": model_label(registry.default),
                "sandbox": config.sandbox}

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    def health():
        """Liveness and readiness: models loaded and the ledger writable (503 when not ready)."""
        ok, why = ledger.writable()
        payload = {"status": "ok" if ok else "unavailable", "models_loaded": len(registry.models),
                   "ledger_writable": ok, "ledger_error": why or None, "sandbox": config.sandbox}
        return JSONResponse(payload, status_code=200 if ok else 503)

    @app.get("/metrics", response_class=PlainTextResponse, responses=_ERRORS)
    def metrics_text(who: Anyone):
        """Prometheus metrics of this worker process."""
        return PlainTextResponse(metrics.text(), media_type="text/plain; version=0.0.4")

    documented = next(r for r in app.routes if getattr(r, "path", None) == "/predict")
    app.add_middleware(FastPredict, handler=handler, route=documented)
    app.add_middleware(Guard, metrics=metrics, max_bytes=config.max_body_bytes)
    return app


def _logged(ledger: Ledger, prediction_id: str) -> dict:
    try:
        return check_intact(ledger.get(prediction_id), prediction_id)
    except LedgerError as exc:
        raise HTTPException(503, str(exc)) from None
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None


def _version() -> str:
    from .. import __version__

    return __version__


#: Allocations between two young-generation collections (Python's default is 700).
GC_YOUNG = 20_000


def settle_heap() -> None:
    """Move everything allocated at start-up out of the collector's reach and collect less often.

    The modules, models and app are never freed: left in the oldest generation
    they made every full collection a pause of milliseconds, at random requests
    (the p99).  A request allocates a few hundred containers, nearly all freed
    by reference counting, so young collections can be rarer.

    Returns
    -------
    None
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, 20, 20)


def app_from_environment():
    """The app for uvicorn's workers, from the configuration in ``HDTWEEDIE_SERVICE_CONFIG``.

    Returns
    -------
    fastapi.FastAPI
    """
    app = create_app(ServiceConfig.from_json(os.environ[CONFIG_ENV]))
    settle_heap()
    return app



