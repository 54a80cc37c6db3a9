"""The context every request of every face gets: an id, an access-log line, its count in the
metrics (one pure ASGI middleware), and the services its handlers call."""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from prometheus_client import Counter, Histogram
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hangar.core.services import Services
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


def services_of(conn: HTTPConnection) -> Services:
    """The services of the face app serving this request (its ``state.services``)."""
    services: Services = conn.app.state.services
    return services


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
    logs one line when it ends and counts it in the metrics under the face ``face_of`` names
    for its path."""

    def __init__(
        self, app: ASGIApp, face_of: Callable[[str], str], access_log: AccessLog | None = None
    ) -> None:
        self.app = app
        self.face_of = face_of
        self.access_log = access_log or AccessLog(json_format=False)
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[str, Any] = {}

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
        face = self.face_of(scope["path"])
        key = (face, scope["method"], status)
        counter = self._counters.get(key)
        if counter is None:
            counter = REQUESTS.labels(face, scope["method"], str(status))
            if len(self._counters) < 1000:  # methods are client-chosen tokens: stay bounded
                self._counters[key] = counter
        counter.inc()
        latency = self._latency.get(face)
        if latency is None:  # faces are the dispatcher's few names: the dict stays small
            latency = self._latency[face] = LATENCY.labels(face)
        latency.observe(elapsed)
