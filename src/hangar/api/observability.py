"""Request ids, access logs and Prometheus metrics, as one pure ASGI middleware."""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hangar.core.census import Census, CensusTaker
from hangar.logs import request_id_var

log = logging.getLogger("hangar.access")

REQUESTS = Counter(
    "hangar_http_requests_total", "HTTP requests handled", ["face", "method", "status"]
)
LATENCY = Histogram(
    "hangar_http_request_duration_seconds",
    "Time to the response's first byte",
    ["face"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def face_of(path: str) -> str:
    if path.startswith("/func/"):
        return "bai-session"
    if path.startswith(("/healthz", "/metrics")):
        return "ops"
    return "bai"


RESPONSE_HEADERS = "hangar.response_headers"
"""Scope key of a list of headers that inner layers add to the response; the outermost layer
sends them, so that each layer need not wrap ``send`` again."""

_PROCESS_PREFIX = os.urandom(8).hex()
_sequence = itertools.count(1)


def new_request_id() -> str:
    """32 hex characters: a random per-process prefix and a counter (cheap and unique)."""
    return f"{_PROCESS_PREFIX}{next(_sequence):016x}"


def _incoming_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if 0 < len(text) <= 64 and text.isprintable() else None
    return None


class AccessLog:
    """One line per request, written in batches (every ``interval`` seconds or ``max_lines``)
    so that the event loop pays for a list append, not for a write per request. Same shape
    as the ``hangar.access`` records of :mod:`hangar.logs`, in JSON or for people."""

    def __init__(
        self,
        json_format: bool,
        stream: TextIO | None = None,
        interval: float = 0.25,
        max_lines: int = 512,
    ) -> None:
        self._json = json_format
        self._stream = stream or sys.stderr
        self._interval = interval
        self._max = max_lines
        self._lines: list[str] = []
        self._flush_pending = False
        self._second = -1
        self._stamp = ""
        atexit.register(self.flush)

    @staticmethod
    def enabled() -> bool:
        return log.isEnabledFor(logging.INFO)

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            if self._json:
                self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            else:
                self._stamp = datetime.fromtimestamp(second).strftime("%H:%M:%S")
        return self._stamp

    def record(self, method: str, path: str, status: int, ms: float, request_id: str) -> None:
        now = time.time()
        stamp = self._timestamp(now)
        msg = f"{method} {path} {status} {ms:.1f}ms"
        if self._json:
            event = {
                "ts": f"{stamp}.{int(now % 1 * 1e6):06d}+00:00",
                "level": "info",
                "logger": "hangar.access",
                "msg": msg,
                "request_id": request_id,
            }
            self._lines.append(json.dumps(event))
        else:
            self._lines.append(f"{stamp} INFO    hangar.access [{request_id}]: {msg}")
        if len(self._lines) >= self._max:
            self.flush()
        elif not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        self._flush_pending = False
        if not self._lines:
            return
        text = "\n".join(self._lines) + "\n"
        self._lines.clear()
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed stderr must not break requests
            pass


class RequestContext:
    """Gives every request an id (``X-Request-ID``, kept if the client sent a sane one),
    logs one line when it ends and counts it in the metrics."""

    def __init__(self, app: ASGIApp, access_log: AccessLog | None = None) -> None:
        self.app = app
        self.access_log = access_log or AccessLog(json_format=False)
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._latency = {face: LATENCY.labels(face) for face in ("bai", "bai-session", "ops")}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope["headers"]) or new_request_id()
        extra: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode("latin-1"))]
        scope[RESPONSE_HEADERS] = extra
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self._count(scope, status, elapsed)
            if self.access_log.enabled():
                self.access_log.record(
                    scope["method"], scope["path"], status, elapsed * 1000, request_id
                )
            request_id_var.reset(token)

    def _count(self, scope: Scope, status: int, elapsed: float) -> None:
        face = face_of(scope["path"])
        key = (face, scope["method"], status)
        counter = self._counters.get(key)
        if counter is None:
            counter = REQUESTS.labels(face, scope["method"], str(status))
            if len(self._counters) < 1000:  # methods are client-chosen tokens: stay bounded
                self._counters[key] = counter
        counter.inc()
        self._latency[face].observe(elapsed)


class StateCollector(Collector):
    """Gauges of the platform's state from the last census: sessions by status, the
    scheduler's queue, agents' capacity and occupancy by slot."""

    def __init__(self) -> None:
        self.census: Census | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        census = self.census
        if census is None:
            return
        sessions = GaugeMetricFamily(
            "hangar_sessions", "Compute sessions by status", labels=["status"]
        )
        for status, count in sorted(census.sessions.items()):
            sessions.add_metric([status], count)
        pending = GaugeMetricFamily(
            "hangar_scheduler_pending_sessions",
            "Sessions waiting for the scheduler (PENDING), per scaling group",
            labels=["scaling_group"],
        )
        for group, count in sorted(census.pending.items()):
            pending.add_metric([group], count)
        yield from (sessions, pending, *_agent_families(census))


def _agent_families(census: Census) -> tuple[GaugeMetricFamily, ...]:
    labels = ["agent", "scaling_group", "slot"]
    capacity = GaugeMetricFamily(
        "hangar_agent_capacity_slots", "Resource slots an agent offers", labels=labels
    )
    occupied = GaugeMetricFamily(
        "hangar_agent_occupied_slots", "Resource slots its sessions hold", labels=labels
    )
    alive = GaugeMetricFamily(
        "hangar_agent_up", "1 while an agent is ALIVE", labels=["agent", "scaling_group"]
    )
    for agent in census.agents:
        alive.add_metric([agent.agent_id, agent.scaling_group], agent.status == "ALIVE")
        for slot in sorted(set(agent.capacity) | set(agent.occupied)):
            names = [agent.agent_id, agent.scaling_group, slot]
            capacity.add_metric(names, float(agent.capacity.amount(slot)))
            occupied.add_metric(names, float(agent.occupied.amount(slot)))
    return capacity, occupied, alive


class Metrics:
    """``GET /metrics``: the process's HTTP and runtime metrics, and the platform's state
    counted from the database at scrape time (at most once per ``min_interval`` seconds,
    so that a scrape storm costs one set of queries)."""

    def __init__(self, census: CensusTaker, min_interval: float = 1.0) -> None:
        self._census = census
        self._min_interval = min_interval
        self._taken = -min_interval
        self._lock = asyncio.Lock()
        self._state = StateCollector()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self._state)

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._taken < self._min_interval:
                return
            try:
                self._state.census = await self._census.take()
            except Exception:  # the database is what fails: serve the process's metrics
                log.warning("metrics: the census failed", exc_info=True)
                self._state.census = None
            self._taken = time.monotonic()

    async def __call__(self, _: Request) -> Response:
        await self.refresh()
        body = generate_latest(REGISTRY) + generate_latest(self._registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
