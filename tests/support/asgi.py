"""Raw ASGI calls into the server app, for tests that must control every byte of a request.

httpx's ASGI transport reads a whole response before returning, so an event stream would
never come back, and it normalises paths and bodies. :func:`call` builds the scope itself
(``path`` percent-decoded and ``raw_path`` as sent, as uvicorn does), stops reading an
endless ``text/event-stream`` body after ``stream_seconds`` and gives up on a request that
does not answer within ``timeout`` (a hang is a failure, not a wait).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.types import ASGIApp, Message

HOST = "127.0.0.1:8090"


class Hang(AssertionError):
    """The application did not answer in time."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    error: BaseException | None = None  # what escaped the application, if anything

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip()

    def json(self) -> Any:
        return orjson.loads(self.body)


def _scope(kind: str, method: str, raw_target: str, headers: dict[str, str]) -> dict[str, Any]:
    raw_path, _, query = raw_target.partition("?")
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http" if kind == "http" else "ws",
        "path": unquote(raw_path),  # as uvicorn decodes it (invalid UTF-8 replaced)
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [(b"host", HOST.encode())]
        + [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8090),
        "state": {},
        "extensions": {"websocket.http.response": {}} if kind == "websocket" else {},
    }


async def call(
    app: ASGIApp,
    method: str,
    raw_target: str,
    headers: dict[str, str],
    body: bytes = b"",
    *,
    deadline: float = 20.0,
    stream_seconds: float = 0.2,
) -> Answer:
    """One HTTP request; ``raw_target`` is the percent-encoded path with its query."""
    all_headers = dict(headers)
    if body:
        all_headers.setdefault("Content-Length", str(len(body)))
    scope = _scope("http", method, raw_target, all_headers)
    sent_body = False
    disconnect = asyncio.Event()
    started: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            started["status"] = message["status"]
            started["headers"] = {
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in message.get("headers", ())
            }
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    task = asyncio.create_task(app(scope, receive, send))
    error: BaseException | None = None
    try:
        async with asyncio.timeout(deadline):
            while not task.done():
                streaming = (
                    started.get("headers", {})
                    .get("content-type", "")
                    .startswith("text/event-stream")
                )
                if streaming:
                    await asyncio.wait({task}, timeout=stream_seconds)
                    disconnect.set()
                    await asyncio.wait({task})
                    break
                await asyncio.wait({task}, timeout=0.05)
            error = task.exception()
    except TimeoutError as exc:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise Hang(f"{method} {raw_target[:200]} did not answer within {deadline}s") from exc
    if "status" not in started:
        return Answer(500, {}, b"", error or AssertionError("no response started"))
    return Answer(started["status"], started["headers"], b"".join(chunks), error)


@dataclass
class SocketAnswer:
    """How a WebSocket handshake ended: accepted, refused with an HTTP response, or closed."""

    accepted: bool = False
    status: int | None = None  # of a denial response
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    close_code: int | None = None
    frames: list[Any] = field(default_factory=list)
    error: BaseException | None = None

    def json(self) -> Any:
        return orjson.loads(self.body)


async def websocket(
    app: ASGIApp,
    raw_target: str,
    headers: dict[str, str],
    *,
    first_frame: str | None = None,
    deadline: float = 20.0,
    listen_seconds: float = 0.5,
) -> SocketAnswer:
    """Open a WebSocket, optionally send one text frame, collect what comes back for
    ``listen_seconds`` after acceptance, then disconnect."""
    scope = _scope("websocket", "GET", raw_target, headers)
    answer = SocketAnswer()
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    chunks: list[bytes] = []
    finished = asyncio.Event()

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            answer.accepted = True
            if first_frame is not None:
                inbox.put_nowait({"type": "websocket.receive", "text": first_frame})
        elif kind == "websocket.close":
            answer.close_code = message.get("code", 1000)
            finished.set()
        elif kind == "websocket.http.response.start":
            answer.status = message["status"]
            answer.headers = {
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in message.get("headers", ())
            }
        elif kind == "websocket.http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                finished.set()
        elif kind == "websocket.send":
            answer.frames.append(message.get("text", message.get("bytes")))

    task = asyncio.create_task(app(scope, receive, send))
    try:
        async with asyncio.timeout(deadline):
            while not task.done() and not finished.is_set() and not answer.accepted:
                await asyncio.wait({task}, timeout=0.02)
            if answer.accepted and not finished.is_set():
                await asyncio.wait({task}, timeout=listen_seconds)
            inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
            await asyncio.wait({task}, timeout=5)
    except TimeoutError as exc:
        task.cancel()
        raise Hang(f"WebSocket {raw_target[:200]} did not answer within {deadline}s") from exc
    if not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    elif task.exception() is not None:
        answer.error = task.exception()
    answer.body = b"".join(chunks)
    return answer
