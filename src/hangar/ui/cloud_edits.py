"""Changing GPU-cloud things from the browser: renaming and growing a volume, renaming a VM,
editing a registry credential (name, user name, a new password).

The same core calls as ``POST /v2/volumes/{id}/name`` and ``/resize``, ``PATCH
/v2/vms/{id}`` and ``PATCH /v2/container-registry-auths/{id}``, with the viewer's principal.
Each change first loads the thing as the viewer: another user's id is "not found" (404)
before anything the form says is looked at. A refused change comes back on the edit page,
filled in, with the message naming the field as the cloud API names it.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.volumes.models import MAX_SIZE_GB, MIN_SIZE_GB
from hangar.ui.cloud_forms import CREDENTIAL_NAME, VOLUME_WORDS, path_id, worded
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of

TEMPLATE = "cloud_edit.html"


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def _name(form: FormData) -> str:
    name = _text(form, "name")
    if not 1 <= len(name) <= 255 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidRequest("name: must be 1 to 255 characters, no control characters")
    return name


def _secret(form: FormData, field: str) -> str | None:
    """A credential's user name or password; blank keeps the one it has."""
    value = str(form.get(field) or "")
    if field == "username":
        value = value.strip()
    if not value:
        return None
    if len(value) > 255:
        raise InvalidRequest(f"{field}: 1 to 255 characters")
    return value


def _redirect(request: Request, anchor: str) -> Response:
    return RedirectResponse(ui_of(request).url(f"/cloud#{anchor}"), status_code=303)


def _edit_page(
    request: Request,
    viewer: Viewer,
    kind: str,
    thing: Any,
    error: HangarError | None = None,
    form: FormData | None = None,
) -> Response:
    return ui_of(request).render(
        request, TEMPLATE, viewer, status_of(error) if error else 200, kind=kind, thing=thing,
        message=str(error) if error else "", form=form or FormData(),
    )  # fmt: skip


# Volumes -------------------------------------------------------------------------------


@page
async def edit_volume(request: Request, viewer: Viewer) -> Response:
    view = await ui_of(request).services.volumes.view(viewer.principal, path_id(request))
    return _edit_page(request, viewer, "volume", view.volume)


@mutation
async def rename_volume(request: Request, viewer: Viewer) -> Response:
    volumes, volume_id = ui_of(request).services.volumes, path_id(request)
    view = await volumes.view(viewer.principal, volume_id)  # another user's: not found
    form = await request.form()
    try:
        with worded(VOLUME_WORDS):
            await volumes.rename(viewer.principal, volume_id, _name(form))
    except HangarError as exc:
        return _edit_page(request, viewer, "volume", view.volume, exc, form)
    return _redirect(request, "volumes")


def _size(form: FormData) -> int:
    text = _text(form, "size_gb")
    if not text.isdigit() or len(text) > 9 or not MIN_SIZE_GB <= int(text) <= MAX_SIZE_GB:
        raise InvalidRequest(f"sizeInGb: a whole number from {MIN_SIZE_GB} to {MAX_SIZE_GB}")
    return int(text)


@mutation
async def resize_volume(request: Request, viewer: Viewer) -> Response:
    volumes, volume_id = ui_of(request).services.volumes, path_id(request)
    view = await volumes.view(viewer.principal, volume_id)
    form = await request.form()
    try:
        with worded(VOLUME_WORDS):
            await volumes.resize(viewer.principal, volume_id, _size(form))
    except HangarError as exc:
        return _edit_page(request, viewer, "volume", view.volume, exc, form)
    return _redirect(request, "volumes")


# VMs -----------------------------------------------------------------------------------


@page
async def edit_vm(request: Request, viewer: Viewer) -> Response:
    vm = await ui_of(request).services.vms.get(viewer.principal, path_id(request))
    return _edit_page(request, viewer, "vm", vm)


@mutation
async def rename_vm(request: Request, viewer: Viewer) -> Response:
    vms, vm_id = ui_of(request).services.vms, path_id(request)
    vm = await vms.get(viewer.principal, vm_id)
    form = await request.form()
    try:
        with worded({}):
            await vms.rename(viewer.principal, vm_id, _name(form))
    except HangarError as exc:
        return _edit_page(request, viewer, "vm", vm, exc, form)
    return _redirect(request, "vms")


# Registry credentials ------------------------------------------------------------------


@page
async def edit_credential(request: Request, viewer: Viewer) -> Response:
    auths = ui_of(request).services.registry_auths
    auth = await auths.get(viewer.principal.user_uuid, path_id(request))
    return _edit_page(request, viewer, "credential", auth)


@mutation
async def save_credential(request: Request, viewer: Viewer) -> Response:
    auths, owner, auth_id = (
        ui_of(request).services.registry_auths,
        viewer.principal.user_uuid,
        path_id(request),
    )
    auth = await auths.get(owner, auth_id)
    form = await request.form()
    try:
        name = _text(form, "name")
        if not CREDENTIAL_NAME.match(name):
            raise InvalidRequest("name: a letter, then up to 19 letters, digits or @._-")
        await auths.update(owner, auth_id, name=name, username=_secret(form, "username"),
                           password=_secret(form, "password"))  # fmt: skip
    except HangarError as exc:
        return _edit_page(request, viewer, "credential", auth, exc, form)
    return _redirect(request, "credentials")


edit_routes = [
    Route("/cloud/volumes/{id}/edit", edit_volume, methods=["GET"]),
    Route("/cloud/volumes/{id}/name", rename_volume, methods=["POST"]),
    Route("/cloud/volumes/{id}/resize", resize_volume, methods=["POST"]),
    Route("/cloud/vms/{id}/edit", edit_vm, methods=["GET"]),
    Route("/cloud/vms/{id}/edit", rename_vm, methods=["POST"]),
    Route("/cloud/credentials/{id}/edit", edit_credential, methods=["GET"]),
    Route("/cloud/credentials/{id}/edit", save_credential, methods=["POST"]),
]
