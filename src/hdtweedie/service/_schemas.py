"""Request and response bodies: the published contract of the service (its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

TransactionType = Literal["quote", "bind", "endorsement", "renewal", "audit", "other"]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Value = str | int | float | bool | None
Record = Annotated[dict[Annotated[str, StringConstraints(max_length=200)], Value], Field(max_length=500)]
#: Most records in one request.
MAX_RECORDS = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RecordItem(_Strict):
    """One risk of a batch: its raw rating factors, exposure and (optionally) its own policy."""

    record: Record
    exposure: Annotated[float, Field(ge=0)] | None = None
    policy_id: Text | None = None


class PredictRequest(_Strict):
    """Price one risk (``record``) or many (``records``) on one model."""

    policy_id: Text
    transaction_type: TransactionType = "quote"
    caller_id: Text | None = None
    record: Record | None = None
    records: Annotated[list[RecordItem], Field(min_length=1, max_length=MAX_RECORDS)] | None = None
    exposure: Annotated[float, Field(ge=0)] | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="'id@version' or 'id'; default: the service's first model")

    @model_validator(mode="after")
    def _one_of(self):
        if (self.record is None) == (self.records is None):
            raise ValueError("give exactly one of 'record' (one risk) and 'records' (a list of risks)")
        if self.records is not None and self.exposure is not None:
            raise ValueError("with 'records', give each risk its own 'exposure'")
        return self


class PredictionResult(BaseModel):
    """One logged prediction."""

    prediction_id: str
    policy_id: str
    model_id: str
    model_version: str
    model_hash: str
    prediction: float
    link: float
    exposure: float
    warnings: list[str]
    sandbox: bool


class PredictResponse(PredictionResult):
    """The answer to a one-record request."""

    duration_ms: float


class BatchPredictResponse(BaseModel):
    """The answer to a ``records`` request, one result per record in order."""

    results: list[PredictionResult]
    duration_ms: float


class Contribution(BaseModel):
    """One input's part of a prediction."""

    input: str
    kind: str
    value: Value
    level: str | None
    link: float
    relativity: float


class LoggedSide(BaseModel):
    """Which prediction, of what, on which model."""

    prediction_id: str
    policy_id: str
    transaction_type: str
    created_at: str
    model_id: str
    model_version: str
    model_hash: str


class ExplainResponse(LoggedSide):
    """A logged prediction, recomputed from its logged inputs and model, factor by factor."""

    exposure: float
    base: float = Field(description="exposure * exp(intercept)")
    intercept: float
    contributions: list[Contribution]
    link: float
    prediction: float
    warnings: list[str]
    verified: bool = Field(description="the recomputation equals the logged decomposition and price")


class CompareRequest(_Strict):
    """Two logged predictions to compare (A the earlier, B the later)."""

    prediction_a: Text
    prediction_b: Text


class Change(BaseModel):
    """An input that differs between the two predictions."""

    input: str
    a: Value
    b: Value


class Output(BaseModel):
    """The two prices and their difference."""

    was: float
    now: float
    delta: float
    ratio: float
    log_ratio: float


class Attribution(BaseModel):
    """The share of the difference due to one input change or to the model change."""

    source: Literal["input", "model"]
    input: str
    link: float
    relativity: float
    money: float = Field(description="delta * link / log_ratio: the shares sum to delta")


class CompareResponse(BaseModel):
    """What changed between two logged predictions, and how much each change cost."""

    a: LoggedSide
    b: LoggedSide
    input_diff: list[Change]
    model_changed: bool
    output: Output
    attribution: list[Attribution]
    note: str | None
    summary: str
    warnings: list[str]


class HistoryEntry(BaseModel):
    """One logged prediction of a policy."""

    prediction_id: str
    created_at: str
    transaction_type: str
    caller_id: str | None
    model_id: str
    model_version: str
    model_hash: str
    prediction: float
    exposure: float
    warnings: list[str]
    shadow: bool
    sandbox: bool


class HistoryResponse(BaseModel):
    """A policy's predictions, newest first."""

    policy_id: str
    days: int
    events: list[HistoryEntry]
    truncated: bool


class ModelEntry(BaseModel):
    """A model the service holds."""

    model_id: str
    version: str
    model_hash: str
    default: bool
    shadow: bool
    inputs: list[str]
    required_inputs: list[str]


class ModelsResponse(BaseModel):
    """The models, the default first."""

    models: list[ModelEntry]
    default: str
    sandbox: bool


class HealthResponse(BaseModel):
    """Liveness and readiness."""

    status: Literal["ok", "unavailable"]
    models_loaded: int
    ledger_writable: bool
    ledger_error: str | None
    sandbox: bool


class ErrorResponse(BaseModel):
    """Every error: a message saying what was wrong."""

    error: str
