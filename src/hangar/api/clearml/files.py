"""The ClearML file server (spec §4), mounted under ``/files`` of the same server.

The SDK treats it as a plain HTTP object store: ``POST /`` with one multipart part per file
(the part's name is the key with a leading ``/``), ``GET``/``HEAD``/``DELETE /<quoted key>``,
``POST /delete_many {files: [...]}`` and ``GET /`` as a ping. Callers prove who they are with
the API's Bearer token (or ClearML's web cookie holding it); which keys they reach is the
tracking core's business (:mod:`hangar.core.tracking.files`). Errors come in the API's
envelope, a missing file as 404.
"""

from __future__ import annotations

import json
import mimetypes
import os
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from hangar.api import zerocopy
from hangar.api.clearml import multipart
from hangar.api.clearml.auth import authenticate, by_token
from hangar.api.clearml.envelope import Envelope
from hangar.api.clearml.errors import ClearmlError
from hangar.api.common.context import new_request_id
from hangar.api.common.errors import error_response
from hangar.api.common.params import read_body
from hangar.api.common.responses import FaceJSONResponse
from hangar.core.errors import DiskFull, HangarError, InvalidRequest, NotFound, QuotaExceeded
from hangar.core.principal import Principal
from hangar.core.services import Services
from hangar.core.tracking.files import FileInfo, TrackingFiles, UploadBatch
from hangar.logs import request_id_var

PREFIX = "/files"
COOKIE = "clearml_token_basic"
MAX_LIST_BODY = 4 << 20
OCTET_STREAM = "application/octet-stream"


class FileProblems(Envelope):
    """The API's envelope, with a missing file answered 404 as an object store does and a
    full disk or a used-up quota 507."""

    __slots__ = ()

    def render(self, exc: HangarError) -> Any:
        if isinstance(exc, NotFound) and exc.kind == "file":
            return self.error(404, 0, exc.message)
        if isinstance(exc, DiskFull | QuotaExceeded):  # not 503: the SDK retries it for minutes
            return self.error(507, 0, exc.message)
        return super().render(exc)


class _Sink:
    """Parts of an upload into the tracking core's batch, under the request's folder."""

    def __init__(self, batch: UploadBatch, folder: str) -> None:
        self.batch = batch
        self.folder = folder

    async def start(self, name: str) -> None:
        key = name[1:] if name.startswith("/") else name
        await self.batch.add(f"{self.folder}/{key}" if self.folder else key)

    def write(self, data: bytes) -> None:
        self.batch.write(data)


def _content_disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _media_type(name: str) -> str:
    if name.endswith((".gz", ".tgz")):
        return OCTET_STREAM  # as bytes: clients must not unpack it on the way
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    return OCTET_STREAM if encoding or not guessed else guessed


class FilesApp:
    """The file server's ASGI app (its paths are below ``PREFIX``)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @property
    def files(self) -> TrackingFiles:
        return self.services.tracking.files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope, receive)
        problems = FileProblems(request_id_var.get() or new_request_id())
        problems.name = "files"
        try:
            response = await self._serve(request)
        except Exception as exc:
            response = await error_response(problems, request, exc)
            exc.__traceback__ = None
        await response(scope, receive, send)

    async def _principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        cookie = request.cookies.get(COOKIE)
        if not header and cookie:
            return await by_token(self.services, cookie)
        return await authenticate(self.services, header)

    async def _serve(self, request: Request) -> Response:
        path: str = request.scope["path"]
        key = path[len(PREFIX) :].lstrip("/") if path.startswith(PREFIX) else ""
        method = request.method
        if method == "GET" and not key:
            return Response("OK", media_type="text/plain")
        if method not in ("GET", "HEAD", "POST", "DELETE"):
            raise ClearmlError(405, 0, "Method not allowed: use GET, HEAD, POST or DELETE")
        principal = await self._principal(request)
        if method == "POST" and key == "delete_many":
            return await self._delete_many(request, principal)
        if method == "POST":
            return await self._upload(request, principal, key)
        if not key:
            raise InvalidRequest("Name a file.")
        if method == "DELETE":
            deleted = await self.files.delete(principal, key)
            return FaceJSONResponse({"deleted": deleted})
        info = await self.files.info(principal, key)
        return await self._download(request, info)

    async def _upload(self, request: Request, principal: Principal, folder: str) -> Response:
        boundary = multipart.boundary_of(request.headers.get("content-type", ""))
        declared = request.headers.get("content-length", "")
        batch = await self.files.upload(principal, int(declared) if declared.isdigit() else 0)
        try:
            count = await multipart.read_parts(
                request.stream(), boundary, _Sink(batch, folder.rstrip("/"))
            )
            if not count:
                raise InvalidRequest("The upload holds no file.")
            keys = await batch.commit()
        finally:
            await batch.discard()
        return FaceJSONResponse(keys)

    async def _delete_many(self, request: Request, principal: Principal) -> Response:
        raw = await read_body(request, MAX_LIST_BODY)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ClearmlError(400, 12, "The body is not JSON.") from None
        keys = body.get("files") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ClearmlError(400, 12, "files: a list of file keys is required")
        deleted, errors = await self.files.delete_many(principal, keys)
        return FaceJSONResponse({"deleted": {k: k for k in deleted}, "errors": errors})

    async def _download(self, request: Request, info: FileInfo) -> Response:
        headers = {"Content-Length": str(info.size), "Cache-Control": "no-store"}
        if "download" in request.query_params:
            headers["Content-Disposition"] = _content_disposition(info.file.filename)
        media = _media_type(info.file.filename)
        if request.method == "HEAD":
            return Response(headers=headers, media_type=media)
        if zerocopy.offered(request.scope):
            opened = await self.files.open_local(info.file)
            if opened is not None:
                return _FileResponse(opened[0], opened[1], headers, media, info)
        return StreamingResponse(_body(self.files, info), headers=headers, media_type=media)


async def _body(files: TrackingFiles, info: FileInfo) -> AsyncIterator[bytes | memoryview]:
    async for chunk in files.read(info):
        yield chunk


class _FileResponse(Response):
    """A local file sent with ``sendfile(2)`` (the zero-copy extension); closes its fd."""

    def __init__(
        self, fd: int, size: int, headers: dict[str, str], media: str, info: FileInfo
    ) -> None:
        super().__init__(headers={**headers, "Content-Length": str(size)}, media_type=media)
        self.fd, self.size, self.info = fd, size, info

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start = {"type": "http.response.start", "status": self.status_code}
            await send({**start, "headers": self.raw_headers})
            with os.fdopen(self.fd, "rb", buffering=0, closefd=False) as file:
                began = time.perf_counter()
                await send({"type": zerocopy.EXTENSION, "file": file, "offset": 0,
                            "count": self.size, "more_body": False})  # fmt: skip
                self.info.file.backend.count_read(self.size, time.perf_counter() - began)
        finally:
            os.close(self.fd)


def create_files_app(services: Services) -> FilesApp:
    return FilesApp(services)
