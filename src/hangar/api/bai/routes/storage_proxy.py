"""The storage-proxy half of transfers, served by the server itself (spec §3.5, §5.4).

These URLs carry no Backend.AI authentication: the ``token`` query parameter, handed out
by ``request-upload``/``request-download``, is the only credential. Uploads speak tus 1.0
(PATCH at an offset, HEAD for the offset, OPTIONS); downloads stream the file with an
exact Content-Length and honour single byte ranges.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from hangar.api import zerocopy
from hangar.api.bai.errors import problem_response
from hangar.api.bai.routes.vfolder_files import DOWNLOAD_PATH, UPLOAD_PATH
from hangar.api.common.context import services_of
from hangar.api.common.routing import Router
from hangar.core.errors import HangarError, NotFound
from hangar.core.storage.files import DownloadTarget, OffsetMismatch, UploadGone, UploadTooLarge

router = Router()

TUS_VERSION = "1.0.0"
TUS_MAX_SIZE = 1 << 44
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _tus_headers(offset: int | None = None, length: int | None = None) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}
    if offset is not None:
        headers["Upload-Offset"] = str(offset)
    if length is not None:
        headers["Upload-Length"] = str(length)
    return headers


def _no_upload() -> Response:
    return problem_response(
        404, "storage/no-such-upload-session", "No such upload session", headers=_tus_headers()
    )


def _token(request: Request) -> str:
    return request.query_params.get("token", "")


def _int_header(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        return -1
    return number if number >= 0 else -1


@router.route(UPLOAD_PATH, ["OPTIONS"])
async def tus_options(request: Request) -> Response:
    headers = _tus_headers()
    headers.update({"Tus-Version": TUS_VERSION, "Tus-Max-Size": str(TUS_MAX_SIZE)})
    return Response(status_code=204, headers=headers)


@router.route(UPLOAD_PATH, ["HEAD"])
async def tus_head(request: Request) -> Response:
    try:
        state = await services_of(request).storage.files.upload_state(_token(request))
    except UploadGone:
        return Response(status_code=404, headers=_tus_headers())
    return Response(status_code=200, headers=_tus_headers(state.offset, state.size))


@router.route(UPLOAD_PATH, ["PATCH"])
async def tus_patch(request: Request) -> Response:
    files = services_of(request).storage.files
    offset = _int_header(request, "upload-offset")
    length = _int_header(request, "content-length")
    if offset is None or offset < 0 or (length is not None and length < 0):
        return problem_response(
            400,
            "storage/invalid-upload",
            "Bad tus request",
            "Upload-Offset and Content-Length must be non-negative integers.",
            headers={**_tus_headers(), "Connection": "close"},
        )
    try:
        state = await files.append(_token(request), offset, request.stream(), length)
    except UploadGone:
        response = _no_upload()
    except OffsetMismatch as exc:
        response = problem_response(
            409,
            "storage/offset-mismatch",
            "Upload offset mismatch",
            exc.message,
            headers=_tus_headers(exc.offset),
        )
    except UploadTooLarge as exc:
        response = problem_response(
            413, "storage/too-large", "Upload too large", exc.message, headers=_tus_headers()
        )
    except ClientDisconnect:
        return Response(status_code=400)
    else:
        return Response(status_code=204, headers=_tus_headers(state.offset, state.size))
    response.headers["Connection"] = "close"  # an unread body would follow
    return response


def _content_disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """(start, end exclusive) of a single byte range; None: whole file; False: unsatisfiable."""
    if not header:
        return None
    match = RANGE_RE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        suffix = int(last)
        return (max(size - suffix, 0), size) if suffix > 0 and size > 0 else False
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return False
    return start, end


def _unservable(exc: HangarError) -> Response:
    """Why a download's file cannot be served: gone (404) or not a regular file (400)."""
    if isinstance(exc, NotFound):
        return problem_response(404, "storage/file-not-found", "File not found")
    return problem_response(400, "storage/invalid-file", exc.message)


@router.route(DOWNLOAD_PATH, ["GET", "HEAD"])
async def download(request: Request) -> Response:
    files = services_of(request).storage.files
    try:
        target = await files.download_target(_token(request))
    except HangarError as exc:
        return _unservable(exc)
    span = _range(request.headers.get("range"), target.size)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": _content_disposition(target.filename),
        "Cache-Control": "no-store",
    }
    if span is False:
        headers["Content-Range"] = f"bytes */{target.size}"
        return Response(status_code=416, headers=headers)
    start, end = span if isinstance(span, tuple) else (0, target.size)
    headers["Content-Length"] = str(end - start)
    status = 200
    if isinstance(span, tuple):
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{target.size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type="application/octet-stream")
    if zerocopy.offered(request.scope):
        try:
            opened = await target.backend.open_local(target.vfid, target.parts)
        except HangarError as exc:
            return _unservable(exc)
        if opened is not None:
            return _FileRangeResponse(opened[0], start, end - start, status, headers, target)
    return StreamingResponse(
        _body(target, start, end),
        status_code=status,
        headers=headers,
        media_type="application/octet-stream",
    )


async def _body(target: DownloadTarget, start: int, end: int) -> AsyncIterator[bytes | memoryview]:
    async for chunk in target.backend.read(target.vfid, target.parts, start, end):
        yield chunk


class _FileRangeResponse(Response):
    """A local file's byte range sent with ``sendfile(2)`` through the zero-copy extension; the
    descriptor is closed once sent."""

    media_type = "application/octet-stream"

    def __init__(
        self, fd: int, offset: int, count: int, status: int, headers: dict[str, str],
        target: DownloadTarget,
    ) -> None:  # fmt: skip
        super().__init__(status_code=status, headers=headers)
        self.fd, self.offset, self.count, self.target = fd, offset, count, target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start = {"type": "http.response.start", "status": self.status_code}
            await send({**start, "headers": self.raw_headers})
            with os.fdopen(self.fd, "rb", buffering=0, closefd=False) as file:
                began = time.perf_counter()
                await send({"type": zerocopy.EXTENSION, "file": file, "offset": self.offset,
                            "count": self.count, "more_body": False})  # fmt: skip
                self.target.backend.count_read(self.count, time.perf_counter() - began)
        finally:
            os.close(self.fd)
