"""``/manager``: status, freeze and announcement (every CLI command reads the latter)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hangar.api.bai.auth import superadmin
from hangar.api.bai.params import Params, read_params
from hangar.api.bai.routes.root import MANAGER_VERSION
from hangar.api.bai.signature import LATEST_VERSION
from hangar.api.common.context import services_of
from hangar.api.common.routing import Router, no_content

router = Router(prefix="/manager")


class StatusUpdate(Params):
    status: str
    force_kill: bool = False


class SchedulerOperation(Params):
    op: str
    args: list[str] = []


class AnnouncementUpdate(Params):
    enabled: bool = False
    message: str | None = None


@router.get("/status")
async def get_status(request: Request) -> dict[str, object]:
    """Public, as in the reference manager."""
    services = services_of(request)
    status = await services.manager.status()
    active = await services.admin.control.active_sessions()
    settings = services.settings
    version_num, _, version_date = LATEST_VERSION.lstrip("v").partition(".")
    node = {
        "id": "hangar",
        "num_proc": 1,
        "service_addr": f"{settings.server.host}:{settings.server.port}",
        "heartbeat_timeout": 5.0,
        "ssl_enabled": False,
        "active_sessions": active,
        "status": status.value,
        "version": MANAGER_VERSION,
        "api_version": [int(version_num), version_date],
    }
    return {"nodes": [node], "status": status.value, "active_sessions": active}


@router.put("/status")
async def put_status(request: Request) -> Response:
    caller = superadmin(request)
    params = await read_params(request, StatusUpdate)
    await services_of(request).admin.control.set_status(
        caller, params.status, force_kill=params.force_kill
    )
    return no_content()


@router.get("/announcement")
async def get_announcement(request: Request) -> dict[str, object]:
    announcement = await services_of(request).manager.announcement()
    return {"enabled": announcement.enabled, "message": announcement.message}


@router.post("/announcement")
async def post_announcement(request: Request) -> Response:
    superadmin(request)
    params = await read_params(request, AnnouncementUpdate)
    await services_of(request).manager.set_announcement(
        enabled=params.enabled, message=params.message
    )
    return no_content()


@router.post("/scheduler/operation")
async def scheduler_operation(request: Request) -> Response:
    caller = superadmin(request)
    params = await read_params(request, SchedulerOperation)
    await services_of(request).admin.control.scheduler_operation(caller, params.op, params.args)
    return no_content()
