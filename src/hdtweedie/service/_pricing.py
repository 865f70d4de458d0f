"""Pricing operations on logged events: price, re-explain and compare (the scorer does the arithmetic)."""

from __future__ import annotations

import math
import os
import threading
import uuid

from ..scoring import ScoringModel
from ._registry import Registry, model_label


class Conflict(RuntimeError):
    """A logged event cannot be reproduced (edited, or its model is not loaded)."""


def price(model: ScoringModel, record: dict, exposure: float | None) -> dict:
    """Score one record and return the event fields that describe it.

    Parameters
    ----------
    model : ScoringModel
    record : dict
        Raw rating factors.
    exposure : float or None

    Returns
    -------
    dict
        ``model_*``, ``record``, ``exposure``, ``features`` (the level or value
        scored per input), ``decomposition``, ``prediction``, ``link`` and
        ``warnings``.

    Raises
    ------
    ValueError, TypeError
        If the record cannot be scored.
    """
    ex = model.explain(record, exposure)
    decomposition = ex.to_dict()
    features = {c["input"]: (c["level"] if c["kind"] == "factor" else c["value"])
                for c in decomposition["contributions"]}
    return {"model_id": model.model_id, "model_version": model.version, "model_hash": model.sha256,
            "record": record, "exposure": ex.exposure, "features": features,
            "decomposition": decomposition, "prediction": ex.prediction, "link": ex.link,
            "warnings": decomposition["warnings"]}


class _Ids:
    """Random (version 4) UUIDs from a buffer of ``os.urandom`` bytes.

    One ``uuid.uuid4()`` is one ``getrandom`` call, which releases the GIL: on
    the event loop each then waited for the ledger's writer thread to give it
    back.  Reading 4 KiB at a time keeps the ids as random, with 1/256 of the calls.
    """

    _BATCH = 256

    def __init__(self):
        self._lock = threading.Lock()
        self._reset()
        if hasattr(os, "register_at_fork"):  # a forked child must not repeat ids
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._buf, self._at = b"", 0

    def __call__(self) -> str:
        with self._lock:
            if self._at == len(self._buf):
                self._buf, self._at = os.urandom(16 * self._BATCH), 0
            raw = self._buf[self._at:self._at + 16]
            self._at += 16
        return str(uuid.UUID(bytes=raw, version=4))


_new_id = _Ids()


def new_event(request: dict, priced: dict, sandbox: bool, shadow_of: str | None = None) -> dict:
    """An event (before chaining) from the request fields and a :func:`price` result.

    Parameters
    ----------
    request : dict
        ``policy_id``, ``transaction_type``, ``caller_id``, ``key_name``.
    priced : dict
    sandbox : bool
    shadow_of : str, optional
        The production prediction id when this is the shadow model's score.

    Returns
    -------
    dict
    """
    return {"prediction_id": _new_id(), **request, **priced, "sandbox": bool(sandbox),
            "shadow": shadow_of is not None, "shadow_of": shadow_of}


def _model_of(registry: Registry, body: dict) -> ScoringModel:
    model = registry.by_hash.get(body["model_hash"])
    if model is None:
        raise Conflict(f"prediction {body['prediction_id']} was made by {body['model_id']}@"
                       f"{body['model_version']} (hash {body['model_hash'][:12]}...), which this "
                       "service has not loaded")
    return model


def check_intact(found: tuple | None, prediction_id: str) -> dict:
    """The body of a stored event, refusing a missing or edited one.

    Parameters
    ----------
    found : tuple or None
        ``Ledger.get`` result.
    prediction_id : str

    Returns
    -------
    dict

    Raises
    ------
    LookupError
        If there is no such prediction.
    Conflict
        If the event does not match its hash.
    """
    if found is None:
        raise LookupError(f"no prediction {prediction_id!r} in the ledger")
    body, intact = found
    if not intact:
        raise Conflict(f"prediction {prediction_id} fails its hash check: the ledger was edited")
    return body


def reexplain(registry: Registry, body: dict) -> dict:
    """Recompute a logged prediction's decomposition and check it equals the logged one.

    Parameters
    ----------
    registry : Registry
    body : dict
        The stored event.

    Returns
    -------
    dict
        The explanation fields of :class:`ExplainResponse`.

    Raises
    ------
    Conflict
        If the model is not loaded or the recomputation differs.
    """
    model = _model_of(registry, body)
    again = price(model, body["record"], body["exposure"])
    if again["decomposition"] != body["decomposition"] or again["prediction"] != body["prediction"]:
        raise Conflict(f"prediction {body['prediction_id']}: recomputing it from the logged inputs on "
                       f"{model_label(model)} gives {again['prediction']!r}, not the logged "
                       f"{body['prediction']!r}")
    d = again["decomposition"]
    return {**side(body), "exposure": d["base"]["exposure"], "base": d["base"]["value"],
            "intercept": d["base"]["intercept"], "contributions": d["contributions"], "link": d["link"],
            "prediction": d["prediction"], "warnings": d["warnings"], "verified": True}


def side(body: dict) -> dict:
    """The identifying fields of a logged prediction.

    Parameters
    ----------
    body : dict

    Returns
    -------
    dict
    """
    return {k: body[k] for k in ("prediction_id", "policy_id", "transaction_type", "created_at",
                                 "model_id", "model_version", "model_hash")}


def money_shares(delta: float, log_ratio: float, links: list) -> list:
    """Split ``delta`` in proportion to log-ratio terms, so that the shares sum to ``delta``.

    Each share is ``delta * link / log_ratio``; the rounding residue goes to
    the largest share, so that ``math.fsum`` of the shares equals ``delta``.

    Parameters
    ----------
    delta : float
    log_ratio : float
        ``sum(links)``, up to rounding.
    links : list of float

    Returns
    -------
    list of float
    """
    if not links:
        return []
    if log_ratio == 0.0 or delta == 0.0:
        shares = [0.0] * len(links)
        shares[max(range(len(links)), key=lambda i: abs(links[i]))] = delta
        return shares
    shares = [delta * (link / log_ratio) for link in links]
    big = max(range(len(shares)), key=lambda i: abs(shares[i]))
    for _ in range(4):
        residue = delta - math.fsum(shares)
        if residue == 0.0:
            break
        shares[big] += residue
    return shares


def compare(registry: Registry, a: dict, b: dict) -> dict:
    """Attribute the difference between two logged predictions to input and model changes.

    Parameters
    ----------
    registry : Registry
    a, b : dict
        The stored events (A the reference, B the one compared with it).

    Returns
    -------
    dict
        The fields of :class:`CompareResponse`.

    Raises
    ------
    Conflict
        If a model is not loaded.
    ValueError
        If an exposure is zero (the ratio is undefined).
    """
    model_a, model_b = _model_of(registry, a), _model_of(registry, b)
    changed = model_a is not model_b
    c = model_a.compare(a["record"], b["record"], other=model_b if changed else None,
                        exposure_a=a["exposure"], exposure_b=b["exposure"])
    terms = [("input", t) for t in c.input_attribution] + [("model", t) for t in c.model_attribution]
    delta = c.prediction_b - c.prediction_a
    shares = money_shares(delta, c.log_ratio, [t["link"] for _, t in terms])
    attribution = [{"source": src, "input": t["input"], "link": t["link"], "relativity": t["relativity"],
                    "money": m} for (src, t), m in zip(terms, shares)]
    note = None
    if a["transaction_type"] != b["transaction_type"]:
        note = (f"the transaction types differ (A is a {a['transaction_type']}, B a "
                f"{b['transaction_type']}): the prices may not be meant to be equal")
    d = c.to_dict()
    return {"a": side(a), "b": side(b), "input_diff": d["changed_inputs"], "model_changed": changed,
            "output": {"was": c.prediction_a, "now": c.prediction_b, "delta": delta, "ratio": c.ratio,
                       "log_ratio": c.log_ratio},
            "attribution": attribution, "note": note, "summary": c.summary, "warnings": d["warnings"]}


def history_entry(body: dict) -> dict:
    """The :class:`HistoryEntry` fields of a stored event.

    Parameters
    ----------
    body : dict

    Returns
    -------
    dict
    """
    return {k: body.get(k) for k in ("prediction_id", "created_at", "transaction_type", "caller_id",
                                     "model_id", "model_version", "model_hash", "prediction", "exposure",
                                     "warnings", "shadow", "sandbox")}
