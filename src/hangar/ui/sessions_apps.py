"""A session's Jupyter in a browser tab, through the app proxy, at
``/ui/sessions/{id}/jupyter/...``.

Each request opens a connection to the session's ``jupyter`` app with the viewer's principal
(``services.apps.open``, the call behind Backend.AI's ``/stream/session/{ref}/httpproxy``):
only the owner's running session answers. The notebook server inside serves at ``/`` (the
CLI's ``app`` command binds it to a local port as it is), so the proxy takes the prefix off
the path and puts it on what points back: redirects, and the absolute paths of its pages
(``="/..."`` attributes and ``'/...'`` values of its inline configuration, which its
scripts build every API and WebSocket address from).

The notebook server is told it is reached at ``http://127.0.0.1`` (Host, and Origin and
Referer when the browser's are this site's): it then applies its own cross-site checks to
that. The proxy first makes its own: a mutation or WebSocket from another site is refused.
The UI's cookie is not passed on. The pages run on the UI's origin, as the terminal does:
they are the viewer's own session's.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from urllib.parse import quote, urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from hangar.api.gateway.app import Body, ClientGone, body_framing
from hangar.api.gateway.sockets import relay_websocket
from hangar.api.gateway.upstream import Exchange, Headers, Truncated, request_head, send_body
from hangar.core.agents.client import AppStream
from hangar.core.errors import HangarError, InvalidRequest, Unavailable
from hangar.ui import security
from hangar.ui.context import Viewer, find_viewer, status_of, ui_of
from hangar.ui.sessions_data import my_session

APP = "jupyter"
UPSTREAM = b"127.0.0.1"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
DROPPED = frozenset({b"host", b"origin", b"referer", b"cookie", b"accept-encoding"})
MAX_PAGE = 8 * 1024 * 1024  # an HTML page larger than this is passed on unchanged
_ABSOLUTE = re.compile(rb"""((?:=|:)\s*["'])/(?!/)""")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def prefix_of(scope: Scope) -> str:
    ui = scope["app"].state.ui
    return f"{ui.prefix}/sessions/{scope['path_params']['session_id']}/{APP}"


def upstream_target(scope: Scope) -> bytes:
    """The path and query below the prefix, as the browser wrote them."""
    raw = scope.get("raw_path") or scope["path"].encode("latin-1")
    path = raw.split(b"?", 1)[0]
    rest = path[len(prefix_of(scope).encode()) :] or b"/"
    query = scope.get("query_string", b"")
    return rest + (b"?" + query if query else b"")


def _same_site(value: bytes | None, host: bytes | None) -> bool:
    return bool(value and host and urlsplit(value.decode("latin-1")).netloc.encode() == host)


def upstream_headers(scope: Scope) -> Headers:
    """The browser's headers as the notebook server should see them (see the module)."""
    headers = dict(scope["headers"])
    host = headers.get(b"host")
    kept = [(k, v) for k, v in scope["headers"] if k not in DROPPED]
    for name in (b"origin", b"referer"):
        value = headers.get(name)
        if value is not None and _same_site(value, host):
            parts = urlsplit(value.decode("latin-1"))
            kept.append((name, f"http://127.0.0.1{parts.path}".encode("latin-1")))
    cookies = SimpleCookie()
    cookies.load(headers.get(b"cookie", b"").decode("latin-1"))
    others = "; ".join(f"{k}={m.value}" for k, m in cookies.items() if k != security.SESSION_COOKIE)
    if others:
        kept.append((b"cookie", others.encode("latin-1")))
    return kept


def rewrite_page(body: bytes, prefix: str) -> bytes:
    """An HTML page of the notebook server with its absolute paths under ``prefix``."""
    return _ABSOLUTE.sub(lambda m: m.group(1) + prefix.encode() + b"/", body)


def answer_headers(headers: Headers, prefix: str) -> Headers:
    """The answer's headers with redirects kept under the prefix."""
    shown: Headers = []
    for name, value in headers:
        if name == b"location":
            target = value.decode("latin-1")
            for origin in ("http://127.0.0.1", "http://localhost"):
                if target.startswith(origin + "/"):
                    target = target[len(origin) :]
            if target.startswith("/"):
                value = (prefix + target).encode("latin-1")
        if name != b"content-length":
            shown.append((name, value))
    return shown


async def _viewer_and_session(request: Request) -> Viewer | Response:
    ui = ui_of(request)
    viewer = await find_viewer(request)
    if viewer is None:
        if request.method in SAFE:
            target = ui.url(f"/login?next={quote(request.url.path)}")
            return RedirectResponse(target, status_code=303)
        return ui.error(request, 403, "Your sign-in has expired: sign in again.")
    if await my_session(ui.services, viewer, request.path_params["session_id"]) is None:
        return ui.error(request, 404, "No such session.", viewer)
    headers = request.headers
    if request.method not in SAFE and not _same_site(
        (headers.get("origin") or headers.get("referer") or "").encode(),
        headers.get("host", "").encode(),
    ):
        return ui.error(request, 403, "This request is not allowed here.", viewer)
    return viewer


async def _ask(stream: AppStream, scope: Scope, receive: Receive) -> Exchange:
    framing = body_framing(scope)
    head = request_head(scope["method"], upstream_target(scope), upstream_headers(scope),
                        UPSTREAM, framing)  # fmt: skip
    if framing is None:
        await stream.write(head)
    else:
        await send_body(stream, head, Body(receive).reader(), framing == "chunked")
    exchange = Exchange(stream, scope["method"])
    await exchange.head()
    return exchange


def _is_page(headers: Headers) -> bool:
    """An HTML answer to rewrite (an encoded one, which the proxy never asks for, is not)."""
    names = {name: value for name, value in headers}
    html = names.get(b"content-type", b"").startswith(b"text/html")
    return html and b"content-encoding" not in names


async def _relay(exchange: Exchange, prefix: str, send: Send) -> None:
    headers = answer_headers(exchange.headers, prefix)
    if _is_page(headers):
        pieces, size = [], 0
        async for piece in exchange.body():
            pieces.append(piece)
            size += len(piece)
            if size > MAX_PAGE:
                raise Truncated("page too large")
        body = rewrite_page(b"".join(pieces), prefix)
        headers.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": exchange.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    headers += [(n, v) for n, v in exchange.headers if n == b"content-length"]
    await send({"type": "http.response.start", "status": exchange.status, "headers": headers})
    try:
        async for piece in exchange.body():
            await send({"type": "http.response.body", "body": piece, "more_body": True})
    except Truncated:
        pass  # the browser sees a body shorter than its length (or a chunked one cut short)
    await send({"type": "http.response.body", "body": b""})


class JupyterPages:
    """The HTTP side: one app connection per request, the answer relayed (pages rewritten)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        found = await _viewer_and_session(request)
        if isinstance(found, Response):
            await found(scope, receive, send)
            return
        ui = ui_of(request)
        try:
            stream = await ui.services.apps.open(
                found.principal, request.path_params["session_id"], app=APP
            )
        except HangarError as exc:
            await ui.error(request, status_of(exc), str(exc) or exc.code, found)(
                scope, receive, send
            )
            return
        try:
            exchange = await _ask(stream, scope, receive)
            await _relay(exchange, prefix_of(scope), send)
        except (HangarError, OSError, Truncated, ClientGone) as exc:
            problem = Unavailable(f"Jupyter did not answer: {exc}")
            await ui.error(request, 502, str(problem), found)(scope, receive, send)
        finally:
            await stream.close()


class JupyterSockets:
    """Kernel channels and terminals: the WebSocket handed over to the notebook server."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope, receive)
        ui = scope["app"].state.ui
        viewer = await find_viewer(connection)  # type: ignore[arg-type]
        session_id = str(scope["path_params"]["session_id"])
        allowed = viewer is not None and _same_site(
            connection.headers.get("origin", "").encode(),
            connection.headers.get("host", "").encode(),
        )
        try:
            if (
                viewer is None
                or not allowed
                or await my_session(ui.services, viewer, session_id) is None
            ):
                raise InvalidRequest("refused")
            stream = await ui.services.apps.open(viewer.principal, session_id, app=APP)
        except HangarError:
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 4403})
            return
        await relay_websocket(stream, upstream_target(scope), upstream_headers(scope), scope,
                              receive, send)  # fmt: skip


def routes() -> list[BaseRoute]:
    pages, sockets = JupyterPages(), JupyterSockets()
    return [
        Route(f"/sessions/{{session_id}}/{APP}", pages, methods=METHODS),
        Route(f"/sessions/{{session_id}}/{APP}/{{path:path}}", pages, methods=METHODS),
        WebSocketRoute(f"/sessions/{{session_id}}/{APP}/{{path:path}}", sockets),
    ]
