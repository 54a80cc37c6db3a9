"""``/folders/{name}/...``: files in a folder and transfer tokens (spec §3.4, §5.3, §5.4)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from typing import Any

from pydantic import AliasChoices, Field
from starlette.requests import Request
from starlette.responses import Response

from hangar.api.bai.auth import user
from hangar.api.bai.params import Params, read_params
from hangar.api.common.context import services_of
from hangar.api.common.routing import Router
from hangar.core.storage.models import FileItem
from hangar.core.storage.plane import StoragePlane

router = Router(prefix="/folders")

UPLOAD_PATH = "/storage/upload"
DOWNLOAD_PATH = "/storage/download"


def _storage(request: Request) -> StoragePlane:
    return services_of(request).storage


def transfer_url(request: Request, path: str) -> str:
    """An absolute URL of this server the client can reach (the public URL when set)."""
    public = services_of(request).settings.server.public_url
    if public:
        return public.rstrip("/") + path
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}{path}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def item_json(item: FileItem) -> dict[str, Any]:
    return {
        "name": item.name,
        "type": item.kind,
        "size": item.size,
        "mode": oct(stat.S_IMODE(item.mode))[2:].rjust(3, "0")[-3:],
        "created": _iso(item.ctime),
        "modified": _iso(item.mtime),
    }


def legacy_json(item: FileItem) -> dict[str, Any]:
    return {
        "filename": item.name,
        "size": item.size,
        "mode": stat.filemode(item.mode),
        "ctime": item.ctime,
        "atime": item.atime,
        "mtime": item.mtime,
    }


class PathParams(Params):
    path: str = "."


class MkdirParams(Params):
    path: str
    parents: bool = True
    exist_ok: bool = False


class RenameFileParams(Params):
    target_path: str
    new_name: str


class MoveParams(Params):
    src: str
    dst: str


class DeleteParams(Params):
    files: list[str]
    recursive: bool = False


class UploadParams(Params):
    path: str
    size: int = Field(ge=0, le=1 << 44)  # the Tus-Max-Size the upload URL announces


class DownloadParams(Params):
    path: str = Field(validation_alias=AliasChoices("path", "file"))
    archive: bool = False


@router.get("/{name}/files")
async def list_files(request: Request) -> Any:
    params = await read_params(request, PathParams)
    items = await _storage(request).files.list_files(
        user(request), request.path_params["name"], params.path
    )
    return {
        "items": [item_json(i) for i in items],
        "files": json.dumps([legacy_json(i) for i in items]),
    }


@router.post("/{name}/mkdir", status_code=201)
async def mkdir(request: Request) -> Response:
    params = await read_params(request, MkdirParams)
    await _storage(request).files.mkdir(
        user(request),
        request.path_params["name"],
        params.path,
        parents=params.parents,
        exist_ok=params.exist_ok,
    )
    return Response(status_code=201)


@router.post("/{name}/rename-file")
async def rename_file(request: Request) -> Any:
    params = await read_params(request, RenameFileParams)
    await _storage(request).files.rename_file(
        user(request), request.path_params["name"], params.target_path, params.new_name
    )
    return {}


router.post("/{name}/rename_file")(rename_file)


@router.post("/{name}/move-file")
async def move_file(request: Request) -> Any:
    params = await read_params(request, MoveParams)
    await _storage(request).files.move_file(
        user(request), request.path_params["name"], params.src, params.dst
    )
    return {}


@router.delete("/{name}/delete-files")
async def delete_files(request: Request) -> Any:
    params = await read_params(request, DeleteParams)
    await _storage(request).files.delete_files(
        user(request), request.path_params["name"], params.files, recursive=params.recursive
    )
    return {}


router.delete("/{name}/delete_files")(delete_files)


@router.post("/{name}/request-upload")
async def request_upload(request: Request) -> Any:
    params = await read_params(request, UploadParams)
    token = await _storage(request).files.request_upload(
        user(request), request.path_params["name"], params.path, params.size
    )
    return {"token": token, "url": transfer_url(request, UPLOAD_PATH)}


@router.post("/{name}/request-download")
async def request_download(request: Request) -> Any:
    params = await read_params(request, DownloadParams)
    token = await _storage(request).files.request_download(
        user(request), request.path_params["name"], params.path
    )
    return {"token": token, "url": transfer_url(request, DOWNLOAD_PATH)}
