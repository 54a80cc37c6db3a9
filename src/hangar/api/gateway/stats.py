"""Per-endpoint request metrics of the gateway: Prometheus series in ``/metrics`` and an
in-process summary (counts, in-flight, latency percentiles of the last requests) that the
endpoint object shows (:func:`snapshot`).

Latency is the time from the request's arrival to the answer's first byte, as the
server's own ``hangar_http_request_duration_seconds``: a stream's length is the caller's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
WINDOW = 1024  # the last requests the percentiles are taken over


@dataclass(slots=True)
class EndpointStats:
    """Plain counts, kept per request (a few additions); the Prometheus series are made
    from them when ``/metrics`` is read (:class:`_Series`), not per request."""

    label: str
    requests: int = 0
    errors: int = 0
    retries: int = 0
    in_flight: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    by_class: dict[str, int] = field(default_factory=dict)  # "2xx" -> answers
    by_reason: dict[str, int] = field(default_factory=dict)  # "worker" -> failures
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    seconds: float = 0.0  # the latencies' sum


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
    return entry.in_flight


def closed(endpoint_id: int) -> int:
    entry = stats(endpoint_id)
    entry.in_flight -= 1
    return entry.in_flight


def answered(endpoint_id: int, status: int, seconds: float) -> None:
    """A request got its answer's head (``status``) after ``seconds``."""
    entry = stats(endpoint_id)
    entry.requests += 1
    entry.latencies.append(seconds)
    klass = f"{status // 100}xx"
    entry.by_class[klass] = entry.by_class.get(klass, 0) + 1
    entry.buckets[bisect_left(BUCKETS, seconds)] += 1  # le: a bucket holds its bound
    entry.seconds += seconds
    if status >= 500:
        entry.errors += 1


def failed(endpoint_id: int, reason: str) -> None:
    """A failure the gateway saw (``no_worker``, ``worker``, ``truncated``)."""
    entry = stats(endpoint_id)
    entry.by_reason[reason] = entry.by_reason.get(reason, 0) + 1
    if reason == "truncated":  # its head was counted as answered already
        entry.errors += 1


def retried(endpoint_id: int) -> None:
    stats(endpoint_id).retries += 1


class _Series(Collector):
    """The ``hangar_gateway_*`` series in ``/metrics``, read from the counts."""

    def collect(self) -> Iterator[Metric]:
        entries = list(_BY_ENDPOINT.values())
        requests = CounterMetricFamily(
            "hangar_gateway_requests",
            "Requests the serverless gateway answered, per endpoint and status class",
            labels=["endpoint", "status"],
        )
        errors = CounterMetricFamily(
            "hangar_gateway_errors",
            "Gateway requests that failed, per endpoint and reason (no_worker, worker, truncated)",
            labels=["endpoint", "reason"],
        )
        retries = CounterMetricFamily(
            "hangar_gateway_retries",
            "Requests sent again to another worker after one failed them",
            labels=["endpoint"],
        )
        in_flight = GaugeMetricFamily(
            "hangar_gateway_in_flight_requests", "Gateway requests open now", labels=["endpoint"]
        )
        latency = HistogramMetricFamily(
            "hangar_gateway_request_duration_seconds",
            "Gateway: time to the answer's first byte",
            labels=["endpoint"],
        )
        for e in entries:
            for klass, count in sorted(e.by_class.items()):
                requests.add_metric([e.label, klass], count)
            for reason, count in sorted(e.by_reason.items()):
                errors.add_metric([e.label, reason], count)
            if e.retries:
                retries.add_metric([e.label], e.retries)
            in_flight.add_metric([e.label], e.in_flight)
            if e.requests:
                latency.add_metric([e.label], _cumulative(e.buckets), e.seconds)
        yield from (requests, errors, retries, in_flight, latency)


def _cumulative(buckets: list[int]) -> list[tuple[str, float]]:
    bounds = [*(repr(float(b)) for b in BUCKETS), "+Inf"]
    total, found = 0, []
    for bound, count in zip(bounds, buckets, strict=True):
        total += count
        found.append((bound, float(total)))
    return found


REGISTRY.register(_Series())


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
