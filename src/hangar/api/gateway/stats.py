"""Per-endpoint request metrics of the gateway: Prometheus series in ``/metrics`` and an
in-process summary (counts, in-flight, latency percentiles of the last requests) that the
endpoint object shows (:func:`snapshot`).

Latency is the time from the request's arrival to the answer's first byte, as the
server's own ``hangar_http_request_duration_seconds``: a stream's length is the caller's.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "hangar_gateway_requests_total",
    "Requests the serverless gateway answered, per endpoint and status class",
    ["endpoint", "status"],
)
ERRORS = Counter(
    "hangar_gateway_errors_total",
    "Gateway requests that failed, per endpoint and reason (no_worker, worker, truncated)",
    ["endpoint", "reason"],
)
RETRIES = Counter(
    "hangar_gateway_retries_total",
    "Requests sent again to another worker after one failed them",
    ["endpoint"],
)
IN_FLIGHT = Gauge("hangar_gateway_in_flight_requests", "Gateway requests open now", ["endpoint"])
LATENCY = Histogram(
    "hangar_gateway_request_duration_seconds",
    "Gateway: time to the answer's first byte",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
WINDOW = 1024  # the last requests the percentiles are taken over


@dataclass(slots=True)
class EndpointStats:
    label: str
    requests: int = 0
    errors: int = 0
    retries: int = 0
    in_flight: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    series: dict[str, Any] = field(default_factory=dict)

    def child(self, key: str, factory: Any) -> Any:
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = factory()
        return found


_BY_ENDPOINT: dict[int, EndpointStats] = {}


def stats(endpoint_id: int) -> EndpointStats:
    found = _BY_ENDPOINT.get(endpoint_id)
    if found is None:
        found = _BY_ENDPOINT[endpoint_id] = EndpointStats(str(endpoint_id))
    return found


def opened(endpoint_id: int) -> int:
    """One more request open; returns how many are open now."""
    entry = stats(endpoint_id)
    entry.in_flight += 1
    entry.child("in_flight", lambda: IN_FLIGHT.labels(entry.label)).inc()
    return entry.in_flight


def closed(endpoint_id: int) -> int:
    entry = stats(endpoint_id)
    entry.in_flight -= 1
    entry.child("in_flight", lambda: IN_FLIGHT.labels(entry.label)).dec()
    return entry.in_flight


def answered(endpoint_id: int, status: int, seconds: float) -> None:
    """A request got its answer's head (``status``) after ``seconds``."""
    entry = stats(endpoint_id)
    entry.requests += 1
    entry.latencies.append(seconds)
    klass = f"{status // 100}xx"
    entry.child("s" + klass, lambda: REQUESTS.labels(entry.label, klass)).inc()
    entry.child("latency", lambda: LATENCY.labels(entry.label)).observe(seconds)
    if status >= 500:
        entry.errors += 1


def failed(endpoint_id: int, reason: str) -> None:
    """A failure the gateway saw (``no_worker``, ``worker``, ``truncated``)."""
    entry = stats(endpoint_id)
    entry.child("e" + reason, lambda: ERRORS.labels(entry.label, reason)).inc()
    if reason == "truncated":  # its head was counted as answered already
        entry.errors += 1


def retried(endpoint_id: int) -> None:
    entry = stats(endpoint_id)
    entry.retries += 1
    entry.child("retries", lambda: RETRIES.labels(entry.label)).inc()


def _percentile(ordered: list[float], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return round(ordered[index] * 1000, 3)


def snapshot(endpoint_id: int) -> dict[str, Any]:
    """The endpoint's gateway metrics since this server started, in the cloud face's words:
    ``{"requests", "errors", "retries", "inFlight", "latencyMs": {"p50", "p90", "p99"}}``
    (percentiles over the last 1024 requests; null before the first)."""
    entry = _BY_ENDPOINT.get(endpoint_id)
    if entry is None:
        entry = EndpointStats(str(endpoint_id))
    ordered = sorted(entry.latencies)
    latency = (
        {"p50": _percentile(ordered, 0.5), "p90": _percentile(ordered, 0.9),
         "p99": _percentile(ordered, 0.99)}
        if ordered else {"p50": None, "p90": None, "p99": None}
    )  # fmt: skip
    return {
        "requests": entry.requests, "errors": entry.errors, "retries": entry.retries,
        "inFlight": entry.in_flight, "latencyMs": latency,
    }  # fmt: skip
