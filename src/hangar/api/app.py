"""The whole HTTP surface of ``hangar server``: every face, health and metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from hangar import __version__
from hangar.api import agents
from hangar.api.bai.app import SessionMode, create_bai_app
from hangar.api.observability import AccessLog, Metrics, RequestContext
from hangar.core.services import Services


class Dispatch:
    """Sends each request to its face by path prefix: one dict look-up, no routing table.

    The Backend.AI face owns the root path space; its console (cookie) variant lives under
    ``/func``; ``/healthz`` and ``/metrics`` are for operators; remote agents report to
    ``/hangar/agents/heartbeat``.
    """

    def __init__(self, services: Services) -> None:
        bai = create_bai_app(services)
        self.bai = bai
        self.func = SessionMode(bai)
        self.services = services
        metrics = Metrics(services.census)
        self.ops: dict[str, Callable[[Request], Awaitable[Response]]] = {
            "/healthz": self.healthz, "/metrics": metrics, agents.PATH: self.heartbeat,
        }  # fmt: skip

    async def healthz(self, _: Request) -> Response:
        try:
            await self.services.manager.status()
        except Exception as exc:  # the database is what can fail here
            return JSONResponse({"status": "unhealthy", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    async def heartbeat(self, request: Request) -> Response:
        return await agents.heartbeat(request, self.services)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if path.startswith("/func/") or path == "/func":
                await self.func(scope, receive, send)
                return
            op = self.ops.get(path)
            if op is not None and scope["type"] == "http":
                response = await op(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.bai(scope, receive, send)


def create_app(services: Services) -> RequestContext:
    json_logs = services.settings.log_format.value == "json"
    return RequestContext(Dispatch(services), AccessLog(json_format=json_logs))
