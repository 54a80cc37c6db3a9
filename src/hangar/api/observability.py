"""Request ids, access logs and Prometheus metrics, as one pure ASGI middleware."""

from __future__ import annotations

import logging
import time
import uuid

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class RequestContext:
    """Gives every request an id (``X-Request-ID``, kept if the client sent a sane one),
    logs one line when it ends and counts it in the metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = (
            incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else (uuid.uuid4().hex)
        )
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            face = face_of(scope["path"])
            REQUESTS.labels(face, scope["method"], str(status)).inc()
            LATENCY.labels(face).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s %d %.1fms",
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                )
            request_id_var.reset(token)


async def metrics(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
