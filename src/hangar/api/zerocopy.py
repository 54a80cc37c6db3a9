"""The ASGI ``http.response.zerocopysend`` extension on uvicorn's httptools connections.

uvicorn copies every response byte through Python; for a file download that means two copies
per byte (file -> buffer -> socket) where ``sendfile(2)`` needs none. On plain TCP
connections served by uvicorn's httptools protocol, :class:`ZeroCopySend` offers the extension
(``scope["extensions"]["http.response.zerocopysend"]``): an app sends
``{"type": "http.response.zerocopysend", "file": f, "offset": o, "count": n, "more_body": b}``
after ``http.response.start`` and the bytes go from the page cache to the socket.

How, in one place: once uvicorn's transport has written everything before (the response head),
``sendfile`` runs on the connection's socket from the event loop, waiting for room while the
socket is full; then the bytes are counted against the declared Content-Length as uvicorn
counts its own body writes, and the response ends through uvicorn as usual. Elsewhere (TLS,
another server or protocol) the extension is simply not offered and apps stream as before.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

EXTENSION = "http.response.zerocopysend"
STALL_SECONDS = 60.0  # a reader that takes nothing for a minute is dropped


class ZeroCopySend:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cycle = _uvicorn_cycle(send) if scope["type"] == "http" else None
        if cycle is None:
            await self.app(scope, receive, send)
            return
        extensions = {**scope.get("extensions", {}), EXTENSION: {}}

        async def send_or_sendfile(message: Message) -> None:
            if message["type"] != EXTENSION:
                await send(message)
                return
            if not cycle.disconnected:
                await _sendfile(cycle, message)
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "extensions": extensions}, receive, send_or_sendfile)


def _uvicorn_cycle(send: Send) -> Any | None:
    """uvicorn's httptools request cycle behind ``send``, when it serves plain TCP."""
    cycle = getattr(send, "__self__", None)
    wanted = ("transport", "flow", "disconnected", "expected_content_length")
    if cycle is None or not all(hasattr(cycle, name) for name in wanted):
        return None
    if type(cycle).__module__ != "uvicorn.protocols.http.httptools_impl":
        return None
    transport = cycle.transport
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    return cycle if sock is not None and sock.fileno() >= 0 else None


async def _sendfile(cycle: Any, message: Message) -> None:
    transport = cycle.transport
    count = int(message["count"])
    if count > cycle.expected_content_length:
        raise RuntimeError("Response content longer than Content-Length")
    flushed_by = asyncio.get_running_loop().time() + STALL_SECONDS
    while transport.get_write_buffer_size():  # the head must go first, in order
        if cycle.disconnected:
            return
        if asyncio.get_running_loop().time() > flushed_by:
            transport.abort()  # a reader that takes not even the head
            cycle.disconnected = True
            return
        await asyncio.sleep(0.001)
    try:
        sent = await _send_all(transport.get_extra_info("socket").fileno(),
                               message["file"].fileno(), int(message["offset"]), count)  # fmt: skip
    except OSError:  # the reader went away or stalled: the response cannot be completed
        sent = -1
    if sent != count:  # a short file (truncated meanwhile) cannot honour its Content-Length
        transport.abort()
        cycle.disconnected = True
        return
    cycle.expected_content_length -= sent


async def _send_all(sock_fd: int, in_fd: int, offset: int, count: int) -> int:
    """sendfile(2) ``count`` bytes into the non-blocking socket, on the event loop (each call
    fills at most the socket's buffer from the page cache), waiting for room in between on a
    duplicate of the socket's descriptor (the original is the transport's), watched for the
    whole transfer. Returns the bytes sent, fewer when the file ended early; raises OSError
    when the reader is gone or stalls."""
    loop = asyncio.get_running_loop()
    out_fd = os.dup(sock_fd)
    room = asyncio.Event()
    loop.add_writer(out_fd, room.set)
    sent = 0
    try:
        while sent < count:
            try:
                n = os.sendfile(out_fd, in_fd, offset + sent, count - sent)
            except BlockingIOError:
                room.clear()
                await asyncio.wait_for(room.wait(), STALL_SECONDS)
                continue
            if n == 0:
                break
            sent += n
    finally:
        loop.remove_writer(out_fd)
        os.close(out_fd)
    return sent


def offered(scope: Scope) -> bool:
    return EXTENSION in scope.get("extensions", {})


__all__ = ["EXTENSION", "ZeroCopySend", "offered"]
