"""Exceptions as a face's error responses: the table look-up, the handlers every route shares
and the refusal of a WebSocket. The wording (status, codes, titles) is the face's own
:class:`Problems`; nothing here knows one face's format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from hangar.core.errors import HangarError

log = logging.getLogger("hangar.api")

E = TypeVar("E")


class ErrorTable(Generic[E]):
    """A face's table from core error codes to its own entries (status, code, title, ...).

    An exception's code is looked up along its class's MRO, so a subclass without an entry
    gets its parent's; an error no class of which is in the table gets ``fallback``.
    """

    def __init__(self, entries: Mapping[str, E], fallback: E) -> None:
        self.entries = dict(entries)
        self.fallback = fallback

    def lookup(self, exc: HangarError) -> E:
        for cls in type(exc).__mro__:
            code = getattr(cls, "code", None)
            if code in self.entries:
                return self.entries[code]
        return self.fallback


class Problems(Protocol):
    """How one face words the errors the shared plumbing answers."""

    def render(self, exc: HangarError) -> Response:
        """The response for a core error."""

    def url_not_found(self) -> Response:
        """No route of the face has this path."""

    def method_not_allowed(self) -> Response:
        """A route has this path, none this method."""

    def http_error(self, status: int, detail: str) -> Response:
        """Starlette raised an ``HTTPException`` other than 404 or 405."""

    def internal(self) -> Response:
        """An unexpected exception (logged before this is sent)."""


def body_left_unread(request: Request) -> bool:
    """Whether the client may still be sending a body we did not read to the end."""
    declared = request.headers.get("content-length", "0") not in ("", "0") or (
        "chunked" in request.headers.get("transfer-encoding", "").lower()
    )
    return declared and not hasattr(request, "_body")  # Starlette caches a fully read body


# An error answered before the body was read (a refusal that need not see it): this much of
# the body is read and dropped first, so that the client, still sending, reads the answer
# instead of a reset connection. A larger body is not waited for: the connection closes.
DRAIN_LIMIT = 1 << 20
DRAIN_SECONDS = 2.0


async def drain_unread(request: Request) -> bool:
    """Read and drop the rest of an unread body (up to DRAIN_LIMIT bytes, DRAIN_SECONDS);
    True when none is left."""
    if not body_left_unread(request):
        return True
    declared = request.headers.get("content-length", "")
    if getattr(request, "_stream_consumed", False) or (
        declared.isdigit() and int(declared) > DRAIN_LIMIT
    ):
        return False
    read = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for chunk in request.stream():
                read += len(chunk)
                if read > DRAIN_LIMIT:
                    return False
    except (TimeoutError, ClientDisconnect, RuntimeError):
        return False
    return True


def _hangar_error(
    problems: Problems, request: Request, exc: HangarError, *, drained: bool = False
) -> Response:
    response = problems.render(exc)
    if not drained and body_left_unread(request):
        # The rest of the body would be read as the next request on this connection.
        response.headers["connection"] = "close"
    return response


def _http_error(problems: Problems, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 404:
        return problems.url_not_found()
    if exc.status_code == 405:
        return problems.method_not_allowed()
    return problems.http_error(exc.status_code, str(exc.detail))


def _unexpected(problems: Problems, conn: Request | WebSocket, exc: Exception) -> Response:
    method = conn.scope.get("method", "WEBSOCKET")
    log.exception("unhandled error on %s %s", method, conn.url.path, exc_info=exc)
    return problems.internal()


async def error_response(problems: Problems, request: Request, exc: Exception) -> Response:
    """The face's answer to an exception a handler raised (one place for every route)."""
    if isinstance(exc, HangarError):
        return _hangar_error(problems, request, exc, drained=await drain_unread(request))
    if isinstance(exc, StarletteHTTPException):
        return _http_error(problems, exc)
    return _unexpected(problems, request, exc)


Handler = Callable[[Any, Exception], Awaitable[Response | None]]


def exception_handlers(problems: Problems) -> dict[Any, Handler]:
    """Starlette exception handlers answering in the face's words (for its WebSocket routes,
    which go through Starlette's router)."""

    async def on_hangar_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HangarError)
        return _hangar_error(problems, request, exc, drained=await drain_unread(request))

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _http_error(problems, exc)

    async def on_unexpected(conn: Request | WebSocket, exc: Exception) -> Response | None:
        """Before a WebSocket's upgrade the problem goes out as a denial response; after it
        the socket is closed with 1011 (Starlette sends what a handler returns, if anything)."""
        response = _unexpected(problems, conn, exc)
        if not isinstance(conn, WebSocket) or (conn.application_state is WebSocketState.CONNECTING):
            return response
        with contextlib.suppress(Exception):
            await conn.close(code=1011)
        return None

    return {
        HangarError: on_hangar_error,
        StarletteHTTPException: on_http_error,
        Exception: on_unexpected,
    }


async def deny_socket(problems: Problems, websocket: WebSocket, exc: HangarError) -> None:
    """Refuse a WebSocket before the upgrade with the face's error response, or close it
    (1008) where the server cannot send a denial response."""
    response = problems.render(exc)
    # WebSocket clients show a refused handshake's headers, not its body: say it there too.
    response.headers["x-hangar-error"] = exc.message.encode("ascii", "replace").decode()[:300]
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # the server lacks the denial-response extension
        await websocket.close(code=1008, reason=exc.message[:120])


async def refuse(
    problems: Problems, scope: Scope, receive: Receive, send: Send, exc: HangarError
) -> None:
    """The face's error response, or for a WebSocket a denial (a close where the server has
    none)."""
    if scope["type"] == "http":
        await problems.render(exc)(scope, receive, send)
        return
    await deny_socket(problems, WebSocket(scope, receive, send), exc)
