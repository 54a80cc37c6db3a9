"""The ``{"meta": {...}, "data": {...}}`` envelope of every reply, HTTP status = result code.

One :class:`Envelope` per request holds what the meta tells (call id, transaction, endpoint
and versions) and words every answer of that request, errors included: it is the face's
:class:`~hangar.api.common.errors.Problems` for the shared error plumbing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from starlette.responses import StreamingResponse

from hangar.api.clearml.compress import Deflated, GzipWriter
from hangar.api.clearml.errors import MESSAGES, error_data, result_of
from hangar.api.common.responses import FaceJSONResponse
from hangar.core.errors import HangarError

log = logging.getLogger("hangar.api.clearml")


class Precompressed(Protocol):
    """A piece of text kept with its deflated form (see :mod:`compress`)."""

    text: bytes

    def deflated(self) -> Deflated: ...


@dataclass(frozen=True, slots=True)
class StreamedList:
    """What a handler returns for data with one long list in it (see
    :meth:`Envelope.streamed`): the list's key, its items as pieces of JSON text (items
    separated by commas, no brackets), and the rest of the data once the list is sent."""

    key: str
    pieces: AsyncGenerator[bytes | Precompressed, None]
    after: Callable[[], dict[str, Any]]
    compressible: bool = True  # False: sent plain even to clients that take gzip


API_VERSION = "2.31"
"""The API version Hangar announces (clearml-server 2.0's); the SDK picks its code paths by it."""
SERVER_VERSION = "2.0.0"


class Envelope:
    """The meta of one call, and its answers."""

    __slots__ = ("call_id", "trx", "name", "requested_version", "gzip")

    def __init__(self, call_id: str, trx: str | None = None, *, gzip: bool = False) -> None:
        self.call_id = call_id
        self.trx = trx or call_id
        self.name = ""
        self.requested_version = API_VERSION
        self.gzip = gzip  # the client accepts gzip: large answers go compressed

    def _meta(self, code: int, subcode: int, msg: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.call_id,
            "trx": self.trx,
            "endpoint": {
                "name": self.name,
                "requested_version": self.requested_version,
                "actual_version": self.requested_version,
            },
            "result_code": code,
            "result_subcode": subcode,
            "result_msg": msg,
            "error_stack": None,
            "error_data": data,
        }

    def ok(self, data: dict[str, Any]) -> FaceJSONResponse:
        return FaceJSONResponse({"meta": self._meta(200, 0, "OK", {}), "data": data})

    def streamed(self, data: StreamedList) -> StreamingResponse:
        """An answer whose data holds one long list, sent piece by piece as it is made:
        ``{"meta": ..., "data": {key: [...], **after()}}`` (gzipped when the client takes
        it). An error once it has begun cuts the answer short (the client sees a broken
        body, never a wrong one)."""
        head = orjson.dumps({"meta": self._meta(200, 0, "OK", {})})[:-1]
        key = orjson.dumps(data.key)

        async def text() -> AsyncIterator[bytes | Precompressed]:
            yield head + b',"data":{' + key + b":["
            separator = b""
            async with aclosing(data.pieces) as pieces:
                async for piece in pieces:
                    if isinstance(piece, bytes):
                        if piece:
                            yield separator + piece
                    else:
                        if separator:
                            yield separator
                        yield piece
                    separator = b","
            rest = orjson.dumps(data.after())
            yield b"]" + (b"," + rest[1:] if len(rest) > 2 else b"}") + b"}"

        if not (self.gzip and data.compressible):
            body: AsyncIterator[bytes] = _plain(text())
            return StreamingResponse(body, media_type="application/json")
        headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return StreamingResponse(_gzipped(text()), media_type="application/json", headers=headers)

    def error(
        self, code: int, subcode: int, msg: str, data: dict[str, Any] | None = None
    ) -> FaceJSONResponse:
        meta = self._meta(code, subcode, msg, data or {})
        return FaceJSONResponse({"meta": meta, "data": {}}, status_code=code)

    # Problems ---------------------------------------------------------------------------

    def render(self, exc: HangarError) -> FaceJSONResponse:
        code, subcode = result_of(exc)
        if code >= 500:
            log.warning("%s answered %d/%d: %s", self.name, code, subcode, exc.message)
        response = self.error(code, subcode, exc.message, error_data(exc))
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float):
            response.headers["retry-after"] = str(max(1, int(retry_after)))
        return response

    def url_not_found(self) -> FaceJSONResponse:
        return self.error(404, 0, f"Unable to find endpoint for name {self.name}")

    def method_not_allowed(self) -> FaceJSONResponse:
        return self.error(405, 0, "Method not allowed: use GET, POST or PUT")

    def http_error(self, status: int, detail: str) -> FaceJSONResponse:
        return self.error(status, 0, detail or MESSAGES.get(status, "Error"))

    def internal(self) -> FaceJSONResponse:
        return self.error(500, 0, MESSAGES[500])


async def _plain(pieces: AsyncIterator[bytes | Precompressed]) -> AsyncIterator[bytes]:
    async for piece in pieces:
        yield piece if isinstance(piece, bytes) else piece.text


async def _gzipped(pieces: AsyncIterator[bytes | Precompressed]) -> AsyncIterator[bytes]:
    writer = GzipWriter()
    async for piece in pieces:
        yield writer.text(piece) if isinstance(piece, bytes) else writer.deflated(piece.deflated())
    yield writer.end()
