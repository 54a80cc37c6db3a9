"""A running session's files (its scratch ``/home/work``): browse, upload, download.

Through the compute service's ``list_files``/``upload``/``download`` with the viewer's
principal, the calls the Backend.AI face's ``/session/{ref}/files``, ``upload`` and
``download_single`` make: only the owner's running sessions answer. A downloaded file comes
out of the agent's tar archive byte for byte.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.agent.models import FileEntry
from hangar.core.errors import HangarError, InvalidRequest, NotFound
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of
from hangar.ui.sessions_data import my_session

HOME = "/home/work"
MAX_FILES = 20
MAX_FILE_BYTES = 64 * 1024 * 1024  # as the Backend.AI face's session upload


def inside_home(path: str) -> str:
    """``path`` relative to /home/work, normalized; raises InvalidRequest when it leads out."""
    if "\x00" in path:
        raise InvalidRequest("Invalid path.")
    full = posixpath.normpath(posixpath.join(HOME, path or "."))
    if full != HOME and not full.startswith(HOME + "/"):
        raise InvalidRequest("The path leads outside /home/work.")
    return full[len(HOME) + 1 :] if full != HOME else ""


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


async def files_page(
    request: Request, viewer: Viewer, *, status_code: int = 200, message: str = ""
) -> Response:
    ui = ui_of(request)
    session_id = request.path_params["session_id"]
    view = await my_session(ui.services, viewer, session_id)
    if view is None:
        return ui.error(request, 404, "No such session.", viewer)
    entries: list[FileEntry] = []
    where = ""
    try:
        where = inside_home(request.query_params.get("path", ""))
        _, entries = await ui.services.compute.list_files(
            viewer.principal, session_id, where or "."
        )
    except HangarError as exc:
        message, status_code = message or (str(exc) or exc.code), status_of(exc)
    entries.sort(key=lambda e: (not e.mode.startswith("d"), e.filename.lower()))
    return ui.render(request, "terminal_files.html", viewer, status_code, view=view,
                     entries=entries, where=where, message=message, when=_when)  # fmt: skip


@page
async def session_files(request: Request, viewer: Viewer) -> Response:
    return await files_page(request, viewer)


async def _uploads(request: Request, where: str) -> list[tuple[str, bytes]]:
    form = await request.form(max_files=MAX_FILES)
    found: list[tuple[str, bytes]] = []
    for value in form.getlist("files"):
        if not isinstance(value, UploadFile) or not value.filename:
            continue
        if (value.size or 0) > MAX_FILE_BYTES:
            raise InvalidRequest(f"{value.filename}: larger than {MAX_FILE_BYTES >> 20} MiB.")
        name = posixpath.basename(value.filename)
        found.append((inside_home(posixpath.join(where, name)), await value.read()))
    if not found:
        raise InvalidRequest("Choose a file to upload.")
    return found


@mutation
async def upload_files(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    session_id = request.path_params["session_id"]
    if await my_session(ui.services, viewer, session_id) is None:
        return ui.error(request, 404, "No such session.", viewer)
    try:
        where = inside_home(request.query_params.get("path", ""))
        files = await _uploads(request, where)
        await ui.services.compute.upload(viewer.principal, session_id, files)
    except HangarError as exc:
        return await files_page(request, viewer, status_code=status_of(exc), message=str(exc))
    target = ui.url(f"/sessions/{session_id}/files") + (f"?path={quote(where)}" if where else "")
    return RedirectResponse(target, status_code=303)


def _only_file(archive: bytes) -> bytes | None:
    """The content of the archive's single regular file; None when it holds anything else."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = tar.getmembers()
        if len(members) != 1 or not members[0].isfile():
            return None
        extracted = tar.extractfile(members[0])
        return extracted.read() if extracted is not None else None


@page
async def download_file(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    session_id = request.path_params["session_id"]
    if await my_session(ui.services, viewer, session_id) is None:
        return ui.error(request, 404, "No such session.", viewer)
    path = inside_home(request.query_params.get("file", ""))
    if not path:
        raise NotFound("file")
    [archive] = await ui.services.compute.download(viewer.principal, session_id, [path])
    data = _only_file(archive)
    name = posixpath.basename(path)
    if data is None:  # a directory: the archive itself
        data, name = archive, name + ".tar"
    disposition = f"attachment; filename*=UTF-8''{quote(name)}"
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    return Response(data, media_type="application/octet-stream", headers=headers)


routes = [
    Route("/sessions/{session_id}/files", session_files, methods=["GET"]),
    Route("/sessions/{session_id}/files", upload_files, methods=["POST"]),
    Route("/sessions/{session_id}/files/download", download_file, methods=["GET"]),
]
