"""The whole HTTP surface of ``hangar server``: every face, health and metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hangar import __version__
from hangar.api import agents
from hangar.api.bai.app import SessionMode, create_bai_app
from hangar.api.clearml.app import SEGMENT_PATTERNS, create_clearml_app
from hangar.api.clearml.connections import close_after_response
from hangar.api.clearml.files import create_files_app
from hangar.api.cloud.app import PREFIXES as CLOUD_PREFIXES
from hangar.api.cloud.app import create_cloud_app
from hangar.api.cloud.podproxy import create_pod_proxy_app
from hangar.api.common.context import AccessLog, RequestContext
from hangar.api.common.mounts import Dispatch, Endpoint, Mount, MountTable
from hangar.api.gateway.app import Gateway, HostRouted
from hangar.api.gateway.routing import PREFIX as GATEWAY_PREFIX
from hangar.api.observability import Metrics
from hangar.core.services import Services
from hangar.ui.app import PREFIX as UI_PREFIX
from hangar.ui.app import RootDoor, create_ui_app


class Operations:
    """The endpoints for operators (``/healthz``) and remote agents (heartbeats)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def healthz(self, _: Request) -> Response:
        try:
            await self.services.manager.status()
        except Exception as exc:  # the database is what can fail here
            return JSONResponse({"status": "unhealthy", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    async def heartbeat(self, request: Request) -> Response:
        return await agents.heartbeat(request, self.services)


def mounts(services: Services) -> list[Mount]:
    """The dispatcher's table, the one place a face registers.

    The Backend.AI face owns the root path space; its console (cookie) variant lives under
    ``/func``. Faces to come mount beside it: the GPU-cloud API under ``/v2``, ClearML by
    segment shape (``/auth.login``, ``/v2.31/tasks.create``), the web UI under a prefix.
    """
    bai = create_bai_app(services)
    # One request per connection, as ClearML's servers: see api/clearml/connections.py.
    clearml = close_after_response(create_clearml_app(services))
    files = close_after_response(create_files_app(services))
    ops = Operations(services)
    cloud = create_cloud_app(services)
    return [
        Mount.root("bai", bai),
        Mount.prefix("/func", "bai-session", SessionMode(bai)),
        Mount.prefix("/files", "clearml-files", files),
        *(Mount.segment(pattern, "clearml", clearml) for pattern in SEGMENT_PATTERNS),
        *(Mount.prefix(prefix, "cloud", cloud) for prefix in CLOUD_PREFIXES),
        Mount.prefix("/pod-proxy", "cloud", create_pod_proxy_app(services)),
        Mount.prefix(UI_PREFIX, "ui", create_ui_app(services)),
        Mount.exact("/", "bai", RootDoor(bai)),  # browsers go on to the UI at /ui
        Mount.exact("/healthz", "ops", Endpoint(ops.healthz)),
        Mount.exact("/metrics", "ops", Endpoint(Metrics(services.census))),
        Mount.exact(agents.PATH, "ops", Endpoint(ops.heartbeat)),
    ]


def serve(table: MountTable, services: Services, gateway: Gateway | None = None) -> RequestContext:
    """The ASGI app for ``table``: request context around the dispatcher; requests to an
    endpoint's host name (``<label>.<endpoint_domain>``) go to ``gateway`` before it."""
    json_logs = services.settings.server.log_format.value == "json"
    app = Dispatch(table) if gateway is None else HostRouted(Dispatch(table), gateway)
    return RequestContext(app, table.face_of, AccessLog(json_format=json_logs))


def create_app(services: Services) -> RequestContext:
    gateway = Gateway(services)  # one balancer for both routes to an endpoint
    table = [*mounts(services), Mount.prefix(GATEWAY_PREFIX, "gateway", gateway)]
    return serve(MountTable(table), services, gateway)
