"""Request, latency, ledger and warning counters in the Prometheus text format."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

# Latency buckets in seconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return "{" + inner + "}"


class Metrics:
    """Counters of one server process (each worker counts its own requests).

    Parameters
    ----------
    sandbox : bool
        Exported as a gauge so that a sandbox service is visible on dashboards.
    """

    def __init__(self, sandbox: bool = False):
        self._lock = threading.Lock()
        self._requests: dict = defaultdict(int)
        self._latency: dict = {}
        self._ledger_failures = 0
        self._warnings = 0
        self._predictions = 0
        self._sandbox = sandbox

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one request.

        Parameters
        ----------
        endpoint : str
            The route (``/explain/{prediction_id}``, not the path asked for).
        status : int
            HTTP status sent.
        seconds : float
            Time to answer.

        Returns
        -------
        None
        """
        with self._lock:
            self._requests[(endpoint, status)] += 1
            counts = self._latency.setdefault(endpoint, [[0] * (len(_BUCKETS) + 1), 0.0])
            counts[0][bisect.bisect_left(_BUCKETS, seconds)] += 1
            counts[1] += seconds

    def ledger_failure(self) -> None:
        """Count one failed ledger write.

        Returns
        -------
        None
        """
        with self._lock:
            self._ledger_failures += 1

    def predictions(self, n: int, n_warnings: int) -> None:
        """Count logged predictions and the warnings they carried.

        Parameters
        ----------
        n : int
        n_warnings : int

        Returns
        -------
        None
        """
        with self._lock:
            self._predictions += n
            self._warnings += n_warnings

    def text(self) -> str:
        """The metrics in the Prometheus exposition format.

        Returns
        -------
        str
        """
        out = ["# HELP hdtweedie_requests_total HTTP requests by endpoint and status.",
               "# TYPE hdtweedie_requests_total counter"]
        with self._lock:
            for (endpoint, status), n in sorted(self._requests.items()):
                out.append(f"hdtweedie_requests_total{_labels(endpoint=endpoint, status=str(status))} {n}")
            out += ["# HELP hdtweedie_request_duration_seconds Time to answer, by endpoint.",
                    "# TYPE hdtweedie_request_duration_seconds histogram"]
            for endpoint, (counts, total) in sorted(self._latency.items()):
                cum = 0
                for bound, c in zip((*_BUCKETS, "+Inf"), counts):
                    cum += c
                    le = bound if isinstance(bound, str) else repr(bound)
                    labels = _labels(endpoint=endpoint, le=le)
                    out.append(f"hdtweedie_request_duration_seconds_bucket{labels} {cum}")
                out.append(f"hdtweedie_request_duration_seconds_sum{_labels(endpoint=endpoint)} {total!r}")
                out.append(f"hdtweedie_request_duration_seconds_count{_labels(endpoint=endpoint)} {cum}")
            out += ["# HELP hdtweedie_ledger_write_failures_total Ledger writes that failed (answered 503).",
                    "# TYPE hdtweedie_ledger_write_failures_total counter",
                    f"hdtweedie_ledger_write_failures_total {self._ledger_failures}",
                    "# HELP hdtweedie_predictions_total Predictions committed to the ledger.",
                    "# TYPE hdtweedie_predictions_total counter",
                    f"hdtweedie_predictions_total {self._predictions}",
                    "# HELP hdtweedie_prediction_warnings_total Warnings on committed predictions.",
                    "# TYPE hdtweedie_prediction_warnings_total counter",
                    f"hdtweedie_prediction_warnings_total {self._warnings}",
                    "# HELP hdtweedie_sandbox 1 when every event is marked sandbox.",
                    "# TYPE hdtweedie_sandbox gauge",
                    f"hdtweedie_sandbox {int(self._sandbox)}"]
        return "\n".join(out) + "\n"
