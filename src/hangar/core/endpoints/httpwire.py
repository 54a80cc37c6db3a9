"""One HTTP/1.0 exchange over a byte stream to a worker's port: the health check, and a
whole request/answer for whoever needs one (the task dispatcher)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from hangar.core.agents.client import AppStream
from hangar.core.errors import Unavailable

MAX_HEAD = 64 * 1024
MAX_ANSWER = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def request_head(
    method: str, path: str, headers: Mapping[str, str], body: bytes, port: int
) -> bytes:
    lines = [f"{method} {path or '/'} HTTP/1.0", f"Host: 127.0.0.1:{port}"]
    for name, value in headers.items():
        if name.lower() not in ("host", "content-length", "connection"):
            lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    """The status and headers of an answer's head; Unavailable when it is not HTTP."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise Unavailable("The worker's port did not answer HTTP.")
    headers = []
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return int(parts[1]), headers


async def _read_all(stream: AppStream) -> bytes:
    data = b""
    while chunk := await stream.read():
        data += chunk
        if len(data) > MAX_HEAD + MAX_ANSWER:
            raise Unavailable("The worker's answer is too large.")
    return data


async def exchange(
    stream: AppStream,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    port: int = 80,
    seconds: float = 10.0,
) -> HttpAnswer:
    """Send one request, read the whole answer, close the stream. Raises Unavailable (no
    HTTP answer, closed early, too large) and TimeoutError."""
    try:
        async with asyncio.timeout(seconds):
            await stream.write(request_head(method, path, headers or {}, body, port) + body)
            data = await _read_all(stream)
    finally:
        await stream.close()
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        raise Unavailable("The worker's port closed the connection without an answer.")
    status, answer_headers = parse_head(head)
    return HttpAnswer(status, answer_headers, rest)
