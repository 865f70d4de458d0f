"""Ledger events: their content, their hash chain and its verification (no database code)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..scoring import canonical_json

#: ``prev_hash`` of the first event.
GENESIS = "0" * 64
#: Version of the event layout, stored in every event.
EVENT_FORMAT = 1
#: Event fields copied into indexed columns; ``verify`` checks that they match the content.
COLUMNS = ("seq", "prediction_id", "created_at", "policy_id", "transaction_type", "prev_hash")


def utc_now() -> str:
    """The current UTC time as fixed-width ISO text (sorts as it orders)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_text(when: dt.datetime) -> str:
    """``when`` (naive means UTC) in the fixed-width text of :func:`utc_now`."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(body: dict) -> str:
    """SHA-256 of the canonical JSON of an event's content (everything but ``hash``)."""
    return hashlib.sha256(canonical_json({k: v for k, v in body.items() if k != "hash"}).encode()).hexdigest()


def chain(events: list, head_seq: int, head_hash: str, created_at: str) -> list:
    """Number, time-stamp and hash ``events`` as the successors of the chain head.

    Returns ``(body, text)`` per event: a new dict carrying ``seq``,
    ``prev_hash``, ``created_at``, ``format`` and ``hash``, and its
    :func:`event_text`.
    """
    out, prev = [], head_hash
    for i, ev in enumerate(events, start=1):
        body = dict(ev, seq=head_seq + i, prev_hash=prev, created_at=created_at, format=EVENT_FORMAT)
        body.pop("hash", None)
        # The canonical text of the keys before and after "hash", serialised once: joined, it is
        # what is hashed; with the hash between them, what is stored.
        low = canonical_json({k: v for k, v in body.items() if k < "hash"})
        high = canonical_json({k: v for k, v in body.items() if k > "hash"})
        body["hash"] = prev = hashlib.sha256(_joined(low, high).encode()).hexdigest()
        out.append((body, _joined(low, f'{{"hash":"{prev}"}}', high)))
    return out


def _joined(*objects: str) -> str:
    """The canonical text of the union of canonical objects whose keys are in order."""
    return "{" + ",".join(t[1:-1] for t in objects if t != "{}") + "}"


def event_text(body: dict) -> str:
    """The stored text of an event: canonical JSON of its content and hash."""
    return canonical_json(body)


@dataclass
class VerifyReport:
    """Outcome of a ledger verification.

    Attributes
    ----------
    ok : bool
        True when every event is intact and in order, and the head matches.
    events : int
        Events checked.
    first_bad : dict or None
        ``seq``, ``prediction_id`` and ``problem`` of the first bad event.
    """

    ok: bool = True
    events: int = 0
    first_bad: dict | None = field(default=None)

    def fail(self, seq: object, prediction_id: object, problem: str) -> VerifyReport:
        """Record the first problem found and return the report.

        Parameters
        ----------
        seq : object
            Position of the bad event (as stored).
        prediction_id : object
            Its prediction id (as stored).
        problem : str
            What is wrong.

        Returns
        -------
        VerifyReport
        """
        self.ok = False
        self.first_bad = {"seq": seq, "prediction_id": prediction_id, "problem": problem}
        return self


def verify_rows(rows: Iterable[tuple], head: tuple | None) -> VerifyReport:
    """Check stored events, in ``seq`` order, against their hashes and each other.

    Parameters
    ----------
    rows : iterable of tuple
        ``(seq, prediction_id, created_at, policy_id, transaction_type,
        prev_hash, hash, body_text)`` per event, ordered by ``seq``.
    head : tuple or None
        The stored chain head ``(seq, hash)``.

    Returns
    -------
    VerifyReport
    """
    report, prev_hash, expected = VerifyReport(), GENESIS, 1
    for row in rows:
        *cols, stored_hash, text = row
        seq, pid = cols[0], cols[1]
        try:
            body = json.loads(text)
        except ValueError:
            return report.fail(seq, pid, "content is not JSON")
        if not isinstance(body, dict):
            return report.fail(seq, pid, "content is not a JSON object")
        if seq != expected:
            return report.fail(seq, pid, f"expected event {expected} here: an event was deleted or moved")
        if body.get("prev_hash") != prev_hash or cols[5] != prev_hash:
            return report.fail(seq, pid, "does not follow the previous event: events deleted or reordered")
        if event_hash(body) != stored_hash or body.get("hash") != stored_hash:
            return report.fail(seq, pid, "content does not match its hash: the event was edited")
        for name, value in zip(COLUMNS, cols):
            if body.get(name) != value:
                return report.fail(seq, pid, f"column {name} ({value!r}) differs from the hashed content")
        prev_hash, expected = stored_hash, expected + 1
        report.events += 1
    if head is None:
        return report.fail(None, None, "the chain head is missing")
    if tuple(head) != (expected - 1, prev_hash):
        return report.fail(head[0], None, f"the chain head (event {head[0]}) does not match the last event "
                                          f"({expected - 1}): events at the end were deleted")
    return report
