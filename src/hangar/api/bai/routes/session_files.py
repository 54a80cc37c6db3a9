"""``/session/{ref}`` file transfer: upload, download, list (spec §5.1-5.3)."""

from __future__ import annotations

import json
import posixpath
import secrets
from dataclasses import asdict
from typing import Any
from urllib.parse import unquote

from pydantic import Field
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request
from starlette.responses import Response

from hangar.api.bai.auth import user
from hangar.api.bai.owners import owner_named
from hangar.api.bai.params import Params, raw_params
from hangar.api.common.context import services_of
from hangar.api.common.params import validate
from hangar.api.common.routing import Router, no_content
from hangar.core.errors import InvalidRequest, NotFound

router = Router(prefix="/session")

HOME = "/home/work"
MAX_UPLOAD_PARTS = 20
MAX_UPLOAD_FILE_BYTES = 64 * 1024 * 1024
MAX_PART_HEADER_BYTES = 16 * 1024
MAX_DOWNLOAD_FILES = 5
MISSING_DIRECTORY = "No such file or directory."


def inside_home(path: str) -> str:
    """``path`` (relative to /home/work, or absolute) as a normalized absolute path.

    Raises InvalidRequest when it leads outside /home/work; symlinks are the agent's to check.
    """
    if not path or "\x00" in path:
        raise InvalidRequest("Invalid path")
    full = posixpath.normpath(posixpath.join(HOME, path))
    if full != HOME and not full.startswith(HOME + "/"):
        raise InvalidRequest("Path escapes /home/work")
    return full


def upload_name(raw: bytes) -> str:
    """A part's percent-encoded filename as the path of a file relative to /home/work."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        name = unquote(text, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("Invalid file name") from exc
    full = inside_home(name)
    if full == HOME:
        raise InvalidRequest("Invalid file name")
    return full[len(HOME) + 1 :]


class UploadReader:
    """Collects the files of a multipart/form-data upload while it streams in.

    Raises InvalidRequest ("Too many files", "Too large file", bad names) as soon as a limit
    is crossed, before the rest of the body is read.
    """

    def __init__(self, boundary: bytes) -> None:
        self.files: list[tuple[str, bytes]] = []
        self._parts = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = b""
        self._value = b""
        self._header_bytes = 0
        self._name: str | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise InvalidRequest("Malformed multipart body.") from exc

    def finish(self) -> list[tuple[str, bytes]]:
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise InvalidRequest("Malformed multipart body.") from exc
        return self.files

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_UPLOAD_PARTS:
            raise InvalidRequest("Too many files")
        self._headers, self._name, self._chunks, self._size = [], None, [], 0
        self._header_bytes = 0

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._grow_header(end - start)
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._grow_header(end - start)
        self._value += data[start:end]

    def _grow_header(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            raise InvalidRequest("Malformed multipart body: part headers too large.")

    def _header_end(self) -> None:
        self._headers.append((self._field.lower(), self._value))
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        for field, value in self._headers:
            if field == b"content-disposition":
                _, options = parse_options_header(value)
                if b"filename" in options:
                    self._name = upload_name(options[b"filename"])

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._size += end - start
        if self._size > MAX_UPLOAD_FILE_BYTES:
            raise InvalidRequest("Too large file")
        if self._name is not None:
            self._chunks.append(data[start:end])

    def _part_end(self) -> None:
        if self._name is not None:  # parts without a filename are not files
            self.files.append((self._name, b"".join(self._chunks)))
        self._chunks = []


def owner_key(request: Request, params: dict[str, Any] | None = None) -> str | None:
    """``owner_access_key`` (or ``ownerAccessKey``) from the query string, else the body."""
    for source in (request.query_params, params or {}):
        for spelling in ("owner_access_key", "ownerAccessKey"):
            value = source.get(spelling)
            if isinstance(value, str) and value:
                return value
    return None


def boundary_of(request: Request) -> bytes:
    ctype, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise InvalidRequest("Files must be sent as multipart/form-data.")
    return boundary


@router.post("/{ref}/upload")
async def upload(request: Request) -> Response:
    """Write each ``src`` part under /home/work at its percent-decoded relative path."""
    caller = user(request)
    ref = request.path_params["ref"]
    reader = UploadReader(boundary_of(request))
    compute = services_of(request).compute
    owner = await owner_named(request, owner_key(request))
    # Refuse before reading what may be a large body.
    await compute.running(caller, ref, owner=owner)
    async for chunk in request.stream():
        reader.feed(chunk)
    files = reader.finish()
    if not files:
        raise InvalidRequest("No files to upload.")
    await compute.upload(caller, ref, files, owner=owner)
    return no_content()


class DownloadParams(Params):
    files: list[str] = Field(min_length=1, max_length=MAX_DOWNLOAD_FILES)


def multipart_mixed(parts: list[bytes]) -> Response:
    """One ``application/octet-stream`` part per archive, in order (spec §5.2)."""
    boundary = secrets.token_hex(16)
    while any(boundary.encode() in part for part in parts):
        boundary = secrets.token_hex(16)
    head = (
        f"--{boundary}\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Encoding: identity\r\n\r\n"
    ).encode()
    body = b"".join(head + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()
    return Response(body, media_type=f"multipart/mixed; boundary={boundary}")


@router.get("/{ref}/download")
async def download(request: Request) -> Response:
    caller = user(request)
    raw = await raw_params(request)
    params = validate(DownloadParams, raw)
    for path in params.files:
        inside_home(path)
    owner = await owner_named(request, owner_key(request, raw))
    archives = await services_of(request).compute.download(
        caller, request.path_params["ref"], params.files, owner=owner
    )
    return multipart_mixed(archives)


@router.get("/{ref}/download_single")
async def download_single(request: Request) -> Response:
    caller = user(request)
    raw = await raw_params(request)
    path = raw.get("file")
    if not isinstance(path, str) or not path:
        raise InvalidRequest("file: the path of the file to download is required")
    inside_home(path)
    owner = await owner_named(request, owner_key(request, raw))
    [archive] = await services_of(request).compute.download(
        caller, request.path_params["ref"], [path], owner=owner
    )
    return Response(archive, media_type="application/x-tar")


class ListParams(Params):
    path: str = "."


@router.get("/{ref}/files")
async def list_files(request: Request) -> dict[str, Any]:
    """A non-recursive listing; a missing or escaping directory is an ``errors`` text."""
    caller = user(request)
    raw = await raw_params(request)
    params = validate(ListParams, raw)
    owner = await owner_named(request, owner_key(request, raw))
    compute = services_of(request).compute
    ref = request.path_params["ref"]
    await compute.running(caller, ref, owner=owner)  # unknown sessions: 404 problems
    try:
        inside_home(params.path)
        abspath, entries = await compute.list_files(caller, ref, params.path, owner=owner)
    except (InvalidRequest, NotFound):
        return {"files": "[]", "errors": MISSING_DIRECTORY, "abspath": params.path}
    return {
        "files": json.dumps([asdict(entry) for entry in entries]),
        "errors": "",
        "abspath": abspath,
    }
