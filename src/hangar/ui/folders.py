"""Folder pages: the list, create, rename, delete, invitations (offer, accept, decline).

Everything goes through the storage plane's services with the viewer's principal, as the
Backend.AI face's ``/folders`` routes do: a folder the viewer cannot reach is "not found"
here too. A refused change (a name taken, a folder sessions still mount, ...) re-renders
the page it came from with the core's message.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import FolderInUse, HangarError
from hangar.core.storage.models import Access
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of
from hangar.ui.folders_files import browse_page, files_routes


async def _text(request: Request, name: str) -> str:
    form = await request.form()
    return str(form.get(name) or "").strip()


def folder_url(request: Request, name: str, path: str = "") -> str:
    where = f"/folders/{quote(name, safe='')}"
    return ui_of(request).url(where + (f"?path={quote(path)}" if path else ""))


async def list_page(
    request: Request, viewer: Viewer, *, status_code: int = 200, message: str = ""
) -> Response:
    ui = ui_of(request)
    storage = ui.services.storage
    found: list[Access] = await storage.service.accessible(viewer.principal)
    found.sort(key=lambda a: a.folder.name)
    received = await storage.invitations.received(viewer.principal)
    hosts = await storage.service.allowed_hosts(viewer.principal)
    return ui.render(request, "folders.html", viewer, status_code, folders=found,
                     invitations=received, hosts=hosts, message=message)  # fmt: skip


@page
async def folder_list(request: Request, viewer: Viewer) -> Response:
    return await list_page(request, viewer)


@mutation
async def create_folder(request: Request, viewer: Viewer) -> Response:
    storage = ui_of(request).services.storage
    name = await _text(request, "name")
    try:
        await storage.service.create(
            viewer.principal, name=name, host=await _text(request, "host") or None
        )
    except HangarError as exc:
        return await list_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(folder_url(request, name), status_code=303)


@mutation
async def rename_folder(request: Request, viewer: Viewer) -> Response:
    storage = ui_of(request).services.storage
    name, new_name = request.path_params["name"], await _text(request, "new_name")
    try:
        await storage.service.rename(viewer.principal, name, new_name)
    except HangarError as exc:
        return await browse_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(folder_url(request, new_name), status_code=303)


@mutation
async def delete_folder(request: Request, viewer: Viewer) -> Response:
    storage = ui_of(request).services.storage
    try:
        await storage.service.delete(viewer.principal, request.path_params["name"])
    except FolderInUse as exc:  # name the viewer's own sessions that hold it
        return await browse_page(request, viewer, status_code=409, message=str(exc),
                                 holders=exc.sessions)  # fmt: skip
    except HangarError as exc:
        return await browse_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(ui_of(request).url("/folders"), status_code=303)


@mutation
async def invite(request: Request, viewer: Viewer) -> Response:
    storage = ui_of(request).services.storage
    name = request.path_params["name"]
    emails = [e.strip() for e in (await _text(request, "emails")).split(",") if e.strip()]
    permission = await _text(request, "permission") or "rw"
    try:
        await storage.invitations.invite(viewer.principal, name, permission, emails)
    except HangarError as exc:
        return await browse_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(folder_url(request, name) + "#share", status_code=303)


@mutation
async def leave(request: Request, viewer: Viewer) -> Response:
    storage = ui_of(request).services.storage
    try:
        await storage.sharing.leave(viewer.principal, request.path_params["name"])
    except HangarError as exc:
        return await browse_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(ui_of(request).url("/folders"), status_code=303)


@mutation
async def answer_invitation(request: Request, viewer: Viewer) -> Response:
    """Accept (``.../accept``) or decline (``.../decline``) an invitation to the viewer."""
    invitations = ui_of(request).services.storage.invitations
    invitation_id, answer = request.path_params["invitation_id"], request.path_params["answer"]
    if answer not in ("accept", "decline"):
        return ui_of(request).error(request, 404, "No such page.", viewer)
    try:
        if answer == "accept":
            await invitations.accept(viewer.principal, invitation_id)
        else:
            await invitations.delete(viewer.principal, invitation_id)
    except HangarError as exc:
        return await list_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(ui_of(request).url("/folders"), status_code=303)


routes = [
    Route("/folders", folder_list, methods=["GET"]),
    Route("/folders", create_folder, methods=["POST"]),
    Route("/invitations/{invitation_id}/{answer}", answer_invitation, methods=["POST"]),
    Route("/folders/{name}/rename", rename_folder, methods=["POST"]),
    Route("/folders/{name}/delete", delete_folder, methods=["POST"]),
    Route("/folders/{name}/invite", invite, methods=["POST"]),
    Route("/folders/{name}/leave", leave, methods=["POST"]),
    *files_routes,
]
