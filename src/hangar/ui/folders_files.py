"""Files inside a folder: browse, new directory, rename/move/delete, upload, download.

Uploads and downloads use the storage plane's transfer tokens, as the Backend.AI face's
``request-upload``/``request-download`` do: the page asks ``upload-session`` (cookie + CSRF
header) for a token bound to one path and size, then the browser speaks tus to the
server's ``/storage/upload`` with that token alone, so an interrupted upload resumes where
it stopped. A download link asks for a token and sends the browser on to
``/storage/download``, which streams the file byte for byte.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.storage.models import FileItem
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of

UPLOAD_PATH = "/storage/upload"
DOWNLOAD_PATH = "/storage/download"
MAX_UPLOAD = 1 << 44


def _path(request: Request) -> str:
    return request.query_params.get("path", "").strip("/")


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def _crumbs(path: str) -> list[tuple[str, str]]:
    """(label, path) of each directory from the folder root down to ``path``."""
    parts = [p for p in path.split("/") if p]
    return [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _sorted(items: list[FileItem]) -> list[FileItem]:
    return sorted(items, key=lambda i: (i.kind != "DIRECTORY", i.name.lower()))


async def browse_page(
    request: Request,
    viewer: Viewer,
    *,
    status_code: int = 200,
    message: str = "",
    holders: list[tuple[str, uuid.UUID]] | None = None,
) -> Response:
    """The folder page at ``?path=``; ``message``: why the last change was refused."""
    ui = ui_of(request)
    storage = ui.services.storage
    name, path = request.path_params["name"], _path(request)
    access = await storage.service.get(viewer.principal, name)
    try:
        items = _sorted(await storage.files.list_files(viewer.principal, name, path))
    except HangarError as exc:
        items, message, status_code = [], message or str(exc), status_of(exc)
    sent = [i for i in await storage.invitations.sent(viewer.principal) if i.vfolder_name == name]
    values: dict[str, Any] = dict(
        access=access, items=items, subpath=path, crumbs=_crumbs(path), invitations=sent,
        message=message, join=_join, when=_when, holders=holders or [],
        tus=ui.vendor.available("tus.min.js"),
    )  # fmt: skip
    return ui.render(request, "folders_browse.html", viewer, status_code, **values)


@page
async def browse(request: Request, viewer: Viewer) -> Response:
    return await browse_page(request, viewer)


async def _field(request: Request, name: str) -> str:
    form = await request.form()
    return str(form.get(name) or "").strip()


def _back(request: Request, path: str) -> Response:
    name = quote(request.path_params["name"], safe="")
    where = ui_of(request).url(f"/folders/{name}") + (f"?path={quote(path)}" if path else "")
    return RedirectResponse(where, status_code=303)


@mutation
async def change_files(request: Request, viewer: Viewer) -> Response:
    """``mkdir``, ``rename``, ``move`` or ``delete`` (the last path segment) in the folder;
    then back to the directory the form was on (its ``path`` query)."""
    files = ui_of(request).services.storage.files
    name, path, action = request.path_params["name"], _path(request), request.path_params["action"]
    try:
        if action == "mkdir":
            await files.mkdir(viewer.principal, name, _join(path, await _field(request, "dir")))
        elif action == "rename":
            target, new_name = await _field(request, "target"), await _field(request, "new_name")
            await files.rename_file(viewer.principal, name, target, new_name)
        elif action == "move":
            src, dst = await _field(request, "src"), await _field(request, "dst")
            await files.move_file(viewer.principal, name, src, dst)
        elif action == "delete":
            target = await _field(request, "target")
            await files.delete_files(viewer.principal, name, [target], recursive=True)
        else:
            return ui_of(request).error(request, 404, "No such page.", viewer)
    except HangarError as exc:
        return await browse_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, path)


def _upload_request(body: object) -> tuple[str, int]:
    if not isinstance(body, dict):
        raise InvalidRequest("Send a JSON object with path and size.")
    path, size = body.get("path"), body.get("size")
    if not isinstance(path, str) or not path.strip("/"):
        raise InvalidRequest("Path: the file's path inside the folder.")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_UPLOAD:
        raise InvalidRequest("Size: the file's size in bytes.")
    return path.strip("/"), size


@mutation
async def upload_session(request: Request, viewer: Viewer) -> Response:
    """``{"path", "size"}`` -> ``{"url"}``: where the browser sends the bytes with tus (or
    ``{"error"}`` with the status of the refusal: read-only folder, quota, bad path)."""
    files = ui_of(request).services.storage.files
    if "application/json" not in request.headers.get("content-type", ""):  # a form's body
        return JSONResponse({"error": "Send a JSON object with path and size."}, 400)
    try:
        path, size = _upload_request(await request.json())
        name = request.path_params["name"]
        token = await files.request_upload(viewer.principal, name, path, size)
    except ValueError:
        return JSONResponse({"error": "Send a JSON object with path and size."}, 400)
    except HangarError as exc:
        return JSONResponse({"error": str(exc) or exc.code}, status_of(exc))
    return JSONResponse({"url": f"{UPLOAD_PATH}?token={quote(token)}"})


@page
async def download(request: Request, viewer: Viewer) -> Response:
    files = ui_of(request).services.storage.files
    target = request.query_params.get("file", "")
    try:
        token = await files.request_download(viewer.principal, request.path_params["name"], target)
    except HangarError as exc:
        return await browse_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(f"{DOWNLOAD_PATH}?token={quote(token)}", status_code=303)


files_routes = [
    Route("/folders/{name}", browse, methods=["GET"]),
    Route("/folders/{name}/download", download, methods=["GET"]),
    Route("/folders/{name}/upload-session", upload_session, methods=["POST"]),
    Route("/folders/{name}/files/{action}", change_files, methods=["POST"]),
]
