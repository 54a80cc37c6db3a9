"""A WebSocket passed through to a worker: the caller's handshake is repeated to the
worker's port (same path, subprotocols and headers, less the platform key); once the
worker accepts, the caller is accepted with the worker's subprotocol and messages go both
ways until either side closes (its close code is passed on)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.types import Message, Receive, Scope, Send
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from hangar.core.agents.client import AppStream

HANDSHAKE_HEADERS = frozenset({
    b"host", b"upgrade", b"connection", b"sec-websocket-key", b"sec-websocket-version",
    b"sec-websocket-extensions", b"sec-websocket-protocol", b"content-length",
    b"transfer-encoding",
})  # fmt: skip
MAX_MESSAGE = 16 * 1024 * 1024
GOING_AWAY = 1001
FAILED = 1011


async def _flush(protocol: ClientProtocol, stream: AppStream) -> None:
    data = b"".join(protocol.data_to_send())
    if data:
        await stream.write(data)


async def _handshake(
    protocol: ClientProtocol, stream: AppStream, path: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[Response | None, list[Frame]]:
    """The worker's handshake answer and any frames that came with it."""
    request = protocol.connect()
    request.path = path.decode("latin-1")
    for name, value in headers:
        if name not in HANDSHAKE_HEADERS:
            request.headers[name.decode("latin-1")] = value.decode("latin-1")
    protocol.send_request(request)
    await _flush(protocol, stream)
    response: Response | None = None
    frames: list[Frame] = []
    while response is None:
        data = await stream.read()
        if not data:
            protocol.receive_eof()
        else:
            protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Response):
                response = event
            elif isinstance(event, Frame):
                frames.append(event)
        if not data and response is None:
            break
    return response, frames


async def relay_websocket(
    stream: AppStream, path: bytes, headers: list[tuple[bytes, bytes]],
    scope: Scope, receive: Receive, send: Send,
) -> None:  # fmt: skip
    """Hand the caller's WebSocket (not yet accepted) over to the worker on ``stream``."""
    try:
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return
        protocol = ClientProtocol(
            parse_uri("ws://127.0.0.1/"), subprotocols=scope.get("subprotocols") or None,
            max_size=MAX_MESSAGE,
        )  # fmt: skip
        response, frames = await _handshake(protocol, stream, path, headers)
        if response is None or response.status_code != 101 or protocol.handshake_exc:
            await _deny(send, response)
            return
        subprotocol = response.headers.get("Sec-WebSocket-Protocol")
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        await _run(protocol, stream, frames, receive, send)
    finally:
        await stream.close()


async def _deny(send: Send, response: Response | None) -> None:
    status = response.status_code if response is not None else 502
    message = (
        f"The worker refused the WebSocket (HTTP {status})."
        if response is not None else "The worker closed the connection during the handshake."
    )  # fmt: skip
    body = json.dumps({"message": message, "code": 10002, "data": None}).encode()
    await send({"type": "websocket.http.response.start", "status": 502 if status < 400 else status,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "websocket.http.response.body", "body": body})


async def _run(
    protocol: ClientProtocol, stream: AppStream, frames: list[Frame], receive: Receive, send: Send
) -> None:
    """Both directions until one ends; the worker's close (or 1011 on a failure) is passed
    to the caller."""
    down = asyncio.ensure_future(_down(protocol, stream, frames, send))
    up = asyncio.ensure_future(_up(protocol, stream, receive))
    code: int | None = None
    try:
        done, _ = await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        if down in done:
            code = FAILED if down.exception() is not None else down.result()
    finally:
        for task in (down, up):
            task.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
    if code is not None:
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": code})


async def _up(protocol: ClientProtocol, stream: AppStream, receive: Receive) -> None:
    """The caller's messages to the worker; its close (code) too."""
    while True:
        message: Message = await receive()
        if message["type"] == "websocket.disconnect":
            with contextlib.suppress(Exception):
                protocol.send_close(message.get("code", 1000) or 1000)
                await _flush(protocol, stream)
            return
        if message.get("bytes") is not None:
            protocol.send_binary(message["bytes"])
        elif message.get("text") is not None:
            protocol.send_text(message["text"].encode())
        await _flush(protocol, stream)


async def _down(
    protocol: ClientProtocol, stream: AppStream, frames: list[Frame], send: Send
) -> int:
    """The worker's messages to the caller (fragments joined); the close code it sent."""
    parts: list[bytes] = []
    kind = Opcode.TEXT
    pending = list(frames)
    while True:
        for frame in pending:
            if frame.opcode is Opcode.CLOSE:
                await _flush(protocol, stream)
                return protocol.close_code or 1000
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                kind, parts = frame.opcode, [bytes(frame.data)]
            elif frame.opcode is Opcode.CONT:
                parts.append(bytes(frame.data))
            else:
                continue
            if frame.fin:
                data = b"".join(parts)
                if kind is Opcode.TEXT:
                    await send({"type": "websocket.send", "text": data.decode(errors="replace")})
                else:
                    await send({"type": "websocket.send", "bytes": data})
        data = await stream.read()
        if not data:
            protocol.receive_eof()
            return GOING_AWAY
        protocol.receive_data(data)
        pending = [e for e in protocol.events_received() if isinstance(e, Frame)]
        await _flush(protocol, stream)
