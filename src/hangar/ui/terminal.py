"""A session's terminal in the browser: xterm.js on the page, a WebSocket to the core.

Each tab's socket gets a shell of its own from the session's web-terminal app
(:mod:`hangar.ui.terminal_tabs`), or the shared one where the session has no such app;
``?shared=1`` attaches to the session's shared terminal (``services.apps.terminal``, the
one the Backend.AI face's ``/stream/session/{ref}/pty`` gives). Both go through the app
service with the viewer's principal: only the session's owner gets in, and only while it
runs. The browser's cookie signs the socket in; a socket opened from another origin is
refused (browsers send no CSRF header on a WebSocket, but always their Origin).

Frames: the page sends JSON text (``{"type": "stdin", "data": "..."}``,
``{"type": "resize", "rows": R, "cols": C}``); the server sends the shell's output as
binary frames, which xterm.js decodes as UTF-8.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from hangar.core.agents.client import TerminalStream
from hangar.core.errors import AuthError, HangarError
from hangar.core.principal import Principal
from hangar.ui import security
from hangar.ui.context import Ui, Viewer, page, ui_of
from hangar.ui.sessions_data import my_session
from hangar.ui.terminal_tabs import open_tab_terminal

log = logging.getLogger("hangar.ui")

MAX_SIZE = 1000
CLOSE_REFUSED = 4403  # app-defined close codes: the page shows why
CLOSE_ENDED = 1000
FALLBACK_NOTE = "[no shell of this tab's own here: attached to the session's shared shell]\r\n"


@page
async def terminal_page(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    view = await my_session(ui.services, viewer, request.path_params["session_id"])
    if view is None:
        return ui.error(request, 404, "No such session.", viewer)
    ready = all(ui.vendor.available(n) for n in ("xterm.js", "xterm.css", "addon-fit.js"))
    shared = request.query_params.get("shared") == "1"
    return ui.render(request, "terminal.html", viewer, view=view, xterm=ready, shared=shared)


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    return bool(origin and host and urlsplit(origin).netloc == host)


async def _principal(websocket: WebSocket, ui: Ui) -> Principal | None:
    token = websocket.cookies.get(security.SESSION_COOKIE)
    if not token or not _same_origin(websocket):
        return None
    try:
        return await ui.services.identity.caller_for_login(token)
    except AuthError:
        return None


async def _attach(websocket: WebSocket, ui: Ui) -> TerminalStream | None:
    """The viewer's terminal of the socket's session, or None (the socket is closed with
    the reason) when not signed in, not theirs or not running."""
    principal = await _principal(websocket, ui)
    if principal is None:
        await websocket.close(CLOSE_REFUSED, "Sign in again.")
        return None
    session_id = websocket.path_params["session_id"]
    viewer = Viewer(principal, "", "")
    if await my_session(ui.services, viewer, session_id) is None:
        await websocket.close(CLOSE_REFUSED, "No such session.")
        return None
    try:
        if websocket.query_params.get("shared") != "1":
            try:
                return await open_tab_terminal(ui.services, principal, session_id)
            except HangarError as exc:  # no web-terminal app: the shared shell
                log.info("session %s: no shell of the tab's own (%s)", session_id, exc)
                shared = await ui.services.apps.terminal(principal, session_id)
                await websocket.send_text(FALLBACK_NOTE)
                return shared
        return await ui.services.apps.terminal(principal, session_id)
    except HangarError as exc:
        await websocket.close(CLOSE_REFUSED, (str(exc) or exc.code)[:120])
        return None


async def _down(websocket: WebSocket, terminal: TerminalStream) -> None:
    while data := await terminal.read():
        await websocket.send_bytes(data)


def _size(value: object) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_SIZE
    return value if ok and isinstance(value, int) else None


async def _up(websocket: WebSocket, terminal: TerminalStream) -> None:
    """Apply the page's frames; malformed ones are ignored."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            text = await websocket.receive_text()
            try:
                frame = json.loads(text)
            except json.JSONDecodeError:
                continue
            if not isinstance(frame, dict):
                continue
            if frame.get("type") == "stdin" and isinstance(frame.get("data"), str):
                await terminal.write(frame["data"].encode())
            elif frame.get("type") == "resize":
                rows, cols = _size(frame.get("rows")), _size(frame.get("cols"))
                if rows is not None and cols is not None:
                    await terminal.resize(rows, cols)


async def terminal_socket(websocket: WebSocket) -> None:
    ui: Ui = websocket.app.state.ui
    await websocket.accept()
    terminal = await _attach(websocket, ui)
    if terminal is None:
        return
    down = asyncio.ensure_future(_down(websocket, terminal))
    up = asyncio.ensure_future(_up(websocket, terminal))
    try:
        await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (down, up):
            task.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
        with contextlib.suppress(Exception):
            await terminal.close()
        with contextlib.suppress(Exception):
            await websocket.close(CLOSE_ENDED)


routes = [
    Route("/sessions/{session_id}/terminal", terminal_page, methods=["GET"]),
    WebSocketRoute("/sessions/{session_id}/terminal/ws", terminal_socket),
]
