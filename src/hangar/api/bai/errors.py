"""Core errors as Backend.AI problem+json responses: one table, one renderer."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketState

from hangar.api.bai.responses import FaceJSONResponse
from hangar.core.errors import HangarError, NotFound, RateLimited

log = logging.getLogger("hangar.api.bai")

PROBLEM_BASE = "https://api.backend.ai/probs/"

# core error code -> (HTTP status, problem slug, title)
PROBLEMS: dict[str, tuple[int, str, str]] = {
    "invalid-request": (400, "invalid-api-params", "Missing or invalid API parameters."),
    "payload-too-large": (413, "generic-bad-request", "Request entity too large."),
    "unsupported-version": (400, "generic-bad-request", "Bad request."),
    "invalid-auth-params": (
        400,
        "invalid-auth-params",
        "Missing or invalid authorization parameters.",
    ),
    "auth-error": (401, "auth-failed", "Credential/signature mismatch."),
    "auth-failed": (401, "auth-failed", "Credential/signature mismatch."),
    "invalid-credentials": (400, "invalid-credentials", "Invalid credentials for authentication."),
    "forbidden": (403, "generic-forbidden", "Forbidden operation."),
    "insufficient-privilege": (403, "insufficient-privilege", "Insufficient privilege."),
    "not-found": (404, "object-not-found", "No such object."),
    "already-exists": (400, "generic-bad-request", "The object already exists."),
    "conflict": (409, "generic-bad-request", "The object changed state; try again."),
    "quota-exceeded": (412, "quota-exceeded", "You have reached your resource limit."),
    "rate-limited": (429, "rate-limit-exceeded", "You have reached your API query rate limit."),
    "too-many-login-failures": (429, "rate-limit-exceeded", "Too many failed login attempts."),
    "server-frozen": (
        503,
        "server-frozen",
        "The server is frozen due to maintenance. Please try again later.",
    ),
    "unavailable": (503, "service-unavailable", "Service unavailable."),
    "not-supported": (501, "not-implemented", "Not implemented."),
    # An agent failed (a kernel or service app did not start): the gateway's upstream, not
    # this server, so not a 500.
    "agent-error": (502, "agent-error", "The agent failed to carry out the operation."),
    "vfolder-already-exists": (
        400,
        "vfolder-already-exists",
        "The virtual folder already exists with the same name.",
    ),
    "vfolder-operation-failed": (
        400,
        "vfolder-operation-failed",
        "Virtual folder operation failed.",
    ),
}
INTERNAL = (500, "internal-server-error", "Internal server error.")
URL_NOT_FOUND = (404, "url-not-found", "Unknown URL path.")
METHOD_NOT_ALLOWED = (405, "method-not-allowed", "HTTP Method Not Allowed.")


def problem_response(
    status: int,
    slug: str,
    title: str,
    msg: str | None = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
) -> FaceJSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title}
    if msg:
        body["msg"] = msg
    if data is not None:
        body["data"] = data
    return FaceJSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def _lookup(exc: HangarError) -> tuple[int, str, str]:
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if code in PROBLEMS:
            return PROBLEMS[code]
    return INTERNAL


def render_error(exc: HangarError) -> FaceJSONResponse:
    status, slug, title = _lookup(exc)
    if isinstance(exc, NotFound):
        title = exc.message
    headers = getattr(exc, "headers", None)
    if isinstance(exc, RateLimited):
        headers = {**(headers or {}), "Retry-After": str(max(1, int(exc.retry_after)))}
    msg = None if exc.message == title else exc.message
    return problem_response(status, slug, title, msg, exc.data, headers)


def _body_left_unread(request: Request) -> bool:
    """Whether the client may still be sending a body we did not read to the end."""
    declared = request.headers.get("content-length", "0") not in ("", "0") or (
        "chunked" in request.headers.get("transfer-encoding", "").lower()
    )
    return declared and not hasattr(request, "_body")  # Starlette caches a fully read body


async def deny_socket(websocket: WebSocket, exc: HangarError) -> None:
    """Refuse a WebSocket before the upgrade with the face's problem response, or close it
    (1008) where the server cannot send a denial response."""
    response = render_error(exc)
    # WebSocket clients show a refused handshake's headers, not its body: say it there too.
    response.headers["x-hangar-error"] = exc.message.encode("ascii", "replace").decode()[:300]
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # the server lacks the denial-response extension
        await websocket.close(code=1008, reason=exc.message[:120])


async def _hangar_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HangarError)
    response = render_error(exc)
    if _body_left_unread(request):
        # The rest of the body would be read as the next request on this connection.
        response.headers["connection"] = "close"
    return response


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return problem_response(*URL_NOT_FOUND)
    if exc.status_code == 405:
        return problem_response(*METHOD_NOT_ALLOWED)
    return problem_response(exc.status_code, "generic-error", str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    method = request.scope.get("method", "WEBSOCKET")
    log.exception("unhandled error on %s %s", method, request.url.path, exc_info=exc)
    return problem_response(*INTERNAL)


async def _unexpected_on_socket(websocket: WebSocket, exc: Exception) -> Response | None:
    """Before the upgrade the problem goes out as a denial response; after it the socket is
    closed with 1011 (Starlette sends what a socket's handler returns, if anything)."""
    response = await _unexpected(websocket, exc)  # type: ignore[arg-type]
    if websocket.application_state is WebSocketState.CONNECTING:
        return response
    with contextlib.suppress(Exception):
        await websocket.close(code=1011)
    return None


async def _any_unexpected(conn: Request | WebSocket, exc: Exception) -> Response | None:
    if isinstance(conn, WebSocket):
        return await _unexpected_on_socket(conn, exc)
    return await _unexpected(conn, exc)


async def error_response(request: Request, exc: Exception) -> Response:
    """The face's answer to an exception a handler raised (one place for every route)."""
    if isinstance(exc, HangarError):
        return await _hangar_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await _http_error(request, exc)
    return await _unexpected(request, exc)


EXCEPTION_HANDLERS: dict[Any, Callable[[Any, Exception], Awaitable[Response | None]]] = {
    HangarError: _hangar_error,
    StarletteHTTPException: _http_error,
    Exception: _any_unexpected,
}
