"""Session pages: the list (live status over server-sent events), create, detail, destroy."""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.compute.models import CreateRequest, SessionSpec
from hangar.core.compute.states import SessionType
from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.services import Services
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of
from hangar.ui.events import session_events
from hangar.ui.sessions_data import Filters, filtered, my_session

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
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


async def _choices(services: Services) -> dict[str, Any]:
    """What the create form offers: images and resource presets."""
    presets = await services.admin.resources.presets()
    return {"images": await _images(services), "presets": presets}


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
        request, "session_new.html", viewer, form=values, **await _choices(ui.services)
    )


def create_request(form: FormData, preset: dict[str, Any] | None = None) -> CreateRequest:
    """The form's fields as the core's request (``preset``: the chosen preset's slots, which
    replace the CPU, memory and GPU fields). Raises InvalidRequest naming the field."""
    text = {key: str(form.get(key) or "").strip() for key in form}
    name = text.get("name", "")
    if not NAME.fullmatch(name):
        raise InvalidRequest("Name: letters, digits, '.', '_' or '-' (at most 64).")
    if not text.get("image"):
        raise InvalidRequest("Image: choose one.")
    try:
        session_type = SessionType(text.get("type") or "interactive")
    except ValueError as exc:
        raise InvalidRequest("Type: interactive or batch.") from exc
    resources: dict[str, Any] = {"cpu": text.get("cpu") or "1", "mem": text.get("mem") or "1g"}
    if text.get("gpu"):
        resources["cuda.device"] = text["gpu"]
    if preset is not None:
        resources = preset
    command = text.get("command") or None
    if session_type is SessionType.BATCH and not command:
        raise InvalidRequest("Command: a batch session needs one.")
    spec = SessionSpec(image=text["image"], resources=resources, command=command)
    return CreateRequest(name=name, spec=spec, session_type=session_type, enqueue_only=True,
                         reuse_if_exists=False)  # fmt: skip


@mutation
async def create_session(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    form = await request.form()
    try:
        preset = await _preset_slots(ui.services, str(form.get("preset") or ""))
        wanted = create_request(form, preset)
        outcome = await ui.services.compute.create(viewer.principal, wanted)
    except HangarError as exc:
        values = {key: str(value) for key, value in form.items() if key != "csrf"}
        return ui.render(request, "session_new.html", viewer, status_of(exc), form=values,
                         message=str(exc) or exc.code, **await _choices(ui.services))  # fmt: skip
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
    return ui.render(request, "session_detail.html", viewer, view=view, log=log)


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
