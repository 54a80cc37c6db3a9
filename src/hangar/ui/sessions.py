"""Session pages: the list (live status over server-sent events), create, detail, destroy."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.compute.states import SessionStatus
from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.services import Services
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of
from hangar.ui.events import session_events
from hangar.ui.sessions_data import Filters, filtered, my_session
from hangar.ui.sessions_form import create_request

LOG_TAIL = 64 * 1024


@page
async def session_list(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    filters = Filters.parse(dict(request.query_params))
    views = await filtered(ui.services, viewer, filters)
    template = "sessions_table.html" if request.headers.get("hx-request") else "sessions.html"
    return ui.render(request, template, viewer, sessions=views, filters=filters)


async def _images(services: Services) -> list[str]:
    return sorted({image.canonical for image in await services.images.list()})


async def _choices(services: Services, viewer: Viewer) -> dict[str, Any]:
    """What the create form offers: images, resource presets, the viewer's folders."""
    presets = await services.admin.resources.presets()
    folders = sorted({a.folder.name for a in await services.storage.service.accessible(
        viewer.principal)})  # fmt: skip
    return {"images": await _images(services), "presets": presets, "folders": folders}


async def _preset_slots(services: Services, name: str) -> dict[str, Any] | None:
    if not name:
        return None
    preset = await services.admin.resources.preset(name)
    if preset is None:
        raise InvalidRequest(f"Preset: no preset named {name!r}.")
    return dict(preset.resource_slots)


@page
async def new_session(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    values = {"name": f"s-{secrets.token_hex(3)}", "cpu": "1", "mem": "1g", "type": "interactive"}
    return ui.render(
        request, "session_new.html", viewer, form=values, **await _choices(ui.services, viewer)
    )


@mutation
async def create_session(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    form = await request.form()
    try:
        preset = await _preset_slots(ui.services, str(form.get("preset") or ""))
        wanted = create_request(form, preset)
        outcome = await ui.services.compute.create(viewer.principal, wanted)
    except HangarError as exc:
        values: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "csrf"}
        values["mount"] = [str(v) for v in form.getlist("mount")]
        choices = await _choices(ui.services, viewer)
        return ui.render(request, "session_new.html", viewer, status_of(exc), form=values,
                         message=str(exc) or exc.code, **choices)  # fmt: skip
    return RedirectResponse(ui.url(f"/sessions/{outcome.session.id}"), status_code=303)


async def _log(services: Services, viewer: Viewer, session_id: str) -> str:
    try:
        text = await services.compute.logs(viewer.principal, session_id)
    except HangarError:
        return ""
    return text[-LOG_TAIL:]


@page
async def session_detail(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    session_id = request.path_params["session_id"]
    view = await my_session(ui.services, viewer, session_id)
    if view is None:
        return ui.error(request, 404, "No such session.", viewer)
    log = await _log(ui.services, viewer, session_id)
    apps: list[str] = []
    if view.session.status is SessionStatus.RUNNING:
        apps = [port.name for port in await ui.services.apps.apps_of(view.session)]
    return ui.render(request, "session_detail.html", viewer, view=view, log=log, apps=apps)


@page
async def session_log(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    session_id = request.path_params["session_id"]
    if await my_session(ui.services, viewer, session_id) is None:
        return ui.error(request, 404, "No such session.", viewer)
    log = await _log(ui.services, viewer, session_id)
    return ui.render(request, "session_log.html", viewer, log=log)


@mutation
async def destroy_session(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    session_id = request.path_params["session_id"]
    if await my_session(ui.services, viewer, session_id) is None:
        return ui.error(request, 404, "No such session.", viewer)
    await ui.services.compute.destroy(viewer.principal, session_id)
    return RedirectResponse(ui.url("/sessions"), status_code=303)


@mutation
async def restart_session(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    session_id = request.path_params["session_id"]
    if await my_session(ui.services, viewer, session_id) is None:
        return ui.error(request, 404, "No such session.", viewer)
    await ui.services.compute.restart(viewer.principal, session_id)
    return RedirectResponse(ui.url(f"/sessions/{session_id}"), status_code=303)


routes = [
    Route("/sessions", session_list, methods=["GET"]),
    Route("/sessions", create_session, methods=["POST"]),
    Route("/sessions/new", new_session, methods=["GET"]),
    Route("/sessions/events", session_events, methods=["GET"]),
    Route("/sessions/{session_id}", session_detail, methods=["GET"]),
    Route("/sessions/{session_id}/log", session_log, methods=["GET"]),
    Route("/sessions/{session_id}/destroy", destroy_session, methods=["POST"]),
    Route("/sessions/{session_id}/restart", restart_session, methods=["POST"]),
]
