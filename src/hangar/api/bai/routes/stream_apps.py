"""``/stream/session/{ref}``: service apps (§4.5-4.6): the app listing, the TCP proxy that
``backend.ai app``/``ssh``/``scp`` use, and the shared terminal (``stream_pty``).

Refusals (bad auth, someone else's or a stopped session, an unknown app) happen before the
upgrade, as problem responses the client reports.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from hangar.api.bai import compute_wire
from hangar.api.bai.auth import user
from hangar.api.bai.errors import BAI_PROBLEMS
from hangar.api.bai.owners import owner_named
from hangar.api.common.context import services_of
from hangar.api.common.errors import deny_socket
from hangar.api.common.routing import Router
from hangar.core.agents.client import AppStream, TerminalStream
from hangar.core.errors import HangarError
from hangar.core.principal import Principal

log = logging.getLogger("hangar.api.bai")
router = Router(prefix="/stream/session")
# The service closed its side. The spec names 1001, but the official client writes an
# "HTTP 503" text into the local connection for any code but 1000.
CLOSE_SERVICE_ENDED = 1000
CLOSE_FAILED = 1011
MAX_TERMINAL_SIZE = 1000


@router.get("/{ref}/apps")
async def apps(request: Request) -> list[dict[str, Any]]:
    """The session's Service Port Objects."""
    owner = await owner_named(request, request.query_params.get("owner_access_key"))
    ports = await services_of(request).apps.list(
        user(request), request.path_params["ref"], owner=owner
    )
    return [compute_wire.service_port(port) for port in ports]


async def _open(websocket: WebSocket, opener: Awaitable[Any]) -> Any:
    """Await ``opener`` and accept the socket; None when refused (the refusal is sent)."""
    try:
        stream = await opener
    except HangarError as exc:
        await deny_socket(BAI_PROBLEMS, websocket, exc)
        return None
    try:
        await websocket.accept()
    except BaseException:
        await stream.close()
        raise
    return stream


async def _open_app(websocket: WebSocket, caller: Principal) -> AppStream:
    query = websocket.query_params
    owner = await owner_named(websocket, query.get("owner_access_key"))
    return await services_of(websocket).apps.open(
        caller,
        websocket.path_params["ref"],
        app=query.get("app") or query.get("service"),
        port=query.get("port"),
        arguments=query.get("arguments"),
        envs=query.get("envs"),
        owner=owner,
    )


async def _open_terminal(websocket: WebSocket, caller: Principal) -> TerminalStream:
    owner = await owner_named(websocket, websocket.query_params.get("owner_access_key"))
    return await services_of(websocket).apps.terminal(
        caller, websocket.path_params["ref"], owner=owner
    )


@router.websocket("/{ref}/httpproxy")
@router.websocket("/{ref}/tcpproxy")
async def tcpproxy(websocket: WebSocket) -> None:
    """Relay raw bytes between binary frames and one new connection to the app."""
    try:
        caller = user(websocket)
    except HangarError as exc:
        await deny_socket(BAI_PROBLEMS, websocket, exc)
        return
    stream: AppStream | None = await _open(websocket, _open_app(websocket, caller))
    if stream is not None:
        down, up = _bytes_down(websocket, stream), _bytes_up(websocket, stream)
        await _run_pair(websocket, stream, down, up)


@router.websocket("/{ref}/pty")
async def pty(websocket: WebSocket) -> None:
    """The session's shared shell: JSON frames in (stdin, resize, restart, ping), out frames."""
    try:
        caller = user(websocket)
    except HangarError as exc:
        await deny_socket(BAI_PROBLEMS, websocket, exc)
        return
    terminal: TerminalStream | None = await _open(websocket, _open_terminal(websocket, caller))
    if terminal is not None:
        await _run_pair(
            websocket, terminal, _pty_down(websocket, terminal), _pty_up(websocket, terminal)
        )


async def _run_pair(
    websocket: WebSocket, stream: AppStream, down: Awaitable[int], up: Awaitable[None]
) -> None:
    """Run both directions until one ends; then close the stream and the socket."""
    down_task, up_task = asyncio.ensure_future(down), asyncio.ensure_future(up)
    code = CLOSE_SERVICE_ENDED
    try:
        done, _ = await asyncio.wait({down_task, up_task}, return_when=asyncio.FIRST_COMPLETED)
        if down_task in done:
            code = down_task.result() if down_task.exception() is None else CLOSE_FAILED
        elif up_task.exception() is not None:
            code = CLOSE_FAILED
    finally:
        for task in (down_task, up_task):
            task.cancel()
        await asyncio.gather(down_task, up_task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await stream.close()
        if websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(code)


async def _bytes_down(websocket: WebSocket, stream: AppStream) -> int:
    while data := await stream.read():
        await websocket.send_bytes(data)
    return CLOSE_SERVICE_ENDED


async def _bytes_up(websocket: WebSocket, stream: AppStream) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or (message.get("text") or "").encode()
            if data:
                await stream.write(data)


async def _pty_down(websocket: WebSocket, terminal: TerminalStream) -> int:
    while data := await terminal.read():
        frame = {"type": "out", "data": base64.b64encode(data).decode()}
        await websocket.send_text(json.dumps(frame))
    return CLOSE_SERVICE_ENDED


def _size(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_TERMINAL_SIZE
    return value if ok else None


async def _pty_up(websocket: WebSocket, terminal: TerminalStream) -> None:
    """Apply client frames; malformed ones are ignored (the protocol has no error frame)."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                frame = json.loads(message.get("text") or message.get("bytes") or b"")
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            kind = frame.get("type") if isinstance(frame, dict) else None
            if kind == "stdin" and isinstance(frame.get("chars"), str):
                with contextlib.suppress(binascii.Error, ValueError):
                    await terminal.write(base64.b64decode(frame["chars"], validate=True))
            elif kind == "resize":
                rows, cols = _size(frame.get("rows")), _size(frame.get("cols"))
                if rows is not None and cols is not None:
                    await terminal.resize(rows, cols)
            elif kind == "restart":
                await terminal.restart()
