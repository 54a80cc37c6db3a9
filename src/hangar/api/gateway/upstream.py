"""One HTTP/1.1 request to a worker over a connection to its port (a new one or one kept
alive, :mod:`.pool`): the head and the caller's body go up as they come, the answer is parsed as it
arrives (httptools) and each piece of its body is handed on at once, so that a stream of
server-sent events reaches the caller event by event.

Failures before any byte of the answer raise :class:`WorkerGone` (the request may be sent
to another worker if it is idempotent); after the head, a connection that ends before the
body does raises :class:`Truncated`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httptools

from hangar.core.agents.client import AppStream
from hangar.core.errors import HangarError

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"trailer",
    b"upgrade", b"content-length", b"expect", b"host",
})  # fmt: skip
ANSWER_DROPPED = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"trailer",
    b"upgrade", b"date",
})  # fmt: skip
MAX_HEAD = 64 * 1024
Headers = list[tuple[bytes, bytes]]


class WorkerGone(Exception):
    """The worker closed or refused before answering anything."""


class Truncated(Exception):
    """The worker's answer ended before its body did."""


class _Answer:
    """httptools callbacks: the head, then body pieces as they are parsed."""

    def __init__(self) -> None:
        self.headers: Headers = []
        self.head_done = False
        self.complete = False
        self.pieces: list[bytes] = []
        self.framed = False  # Content-Length or chunked: its end is known
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower in (b"content-length", b"transfer-encoding"):
            self.framed = True
        if lower not in ANSWER_DROPPED:
            self.headers.append((lower, value))

    def on_headers_complete(self) -> None:
        self.head_done = True
        if self.parser is not None:  # known here; reset once the message is complete
            self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.pieces.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


def request_head(
    method: str, target: bytes, headers: Headers, host: bytes, body: str | int | None
) -> bytes:
    """The head sent up: the caller's headers less the hop-by-hop ones, and the body's
    framing (``body``: a length, ``"chunked"``, None)."""
    lines = [method.encode("ascii") + b" " + target + b" HTTP/1.1", b"host: " + host]
    lines += [name + b": " + value for name, value in headers if name not in HOP_BY_HOP]
    if body == "chunked":
        lines.append(b"transfer-encoding: chunked")
    elif body is not None:
        lines.append(b"content-length: %d" % int(body))
    return b"\r\n".join(lines) + b"\r\n\r\n"


class Exchange:
    """The answer side of one request: :meth:`head` then :meth:`body`."""

    def __init__(self, stream: AppStream, method: str) -> None:
        self._stream = stream
        self._answer = _Answer()
        self._parser = httptools.HttpResponseParser(self._answer)
        self._answer.parser = self._parser
        self._head_only = method == "HEAD"
        self.status = 0
        self.headers: Headers = []

    async def head(self) -> Headers:
        """Read until the answer's head is complete. Raises WorkerGone."""
        answer, seen = self._answer, 0
        while not answer.head_done:
            try:
                data = await self._stream.read()
            except (OSError, HangarError) as exc:  # a remote agent's stream failed
                raise WorkerGone(str(exc)) from exc
            if not data:
                raise WorkerGone("the worker closed the connection without an answer")
            seen += len(data)
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                break
            except httptools.HttpParserError as exc:
                raise WorkerGone(f"the worker did not answer HTTP: {exc}") from exc
            if seen > MAX_HEAD and not answer.head_done:
                raise WorkerGone("the worker's answer head is too large")
        self.status = self._parser.get_status_code()
        self.headers = answer.headers
        return answer.headers

    @property
    def reusable(self) -> bool:
        """The answer ended cleanly and the worker keeps the connection open."""
        answer = self._answer
        return (
            answer.complete and answer.framed and not self._head_only
            and self.status >= 200 and answer.keep_alive
        )  # fmt: skip

    def whole(self) -> bytes | None:
        """The answer's whole body when it came with the head (the usual small answer, one
        send instead of a stream); None when more is to be read."""
        answer = self._answer
        if self._head_only:
            return b""
        if not answer.complete:
            return None
        pieces, answer.pieces = answer.pieces, []
        return b"".join(pieces)

    async def body(self) -> AsyncIterator[bytes]:
        """The answer's body as it arrives (decoded from chunks). Raises Truncated."""
        answer = self._answer
        if self._head_only:
            return
        while True:
            if answer.pieces:
                pieces, answer.pieces = answer.pieces, []
                for piece in pieces:
                    yield piece
            if answer.complete:
                return
            try:
                data = await self._stream.read()
            except (OSError, HangarError) as exc:  # a remote agent's stream failed
                raise Truncated(str(exc)) from exc
            if not data:
                if answer.framed:
                    raise Truncated("the worker closed the connection in the middle of its answer")
                return
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise Truncated(f"the worker's answer broke off: {exc}") from exc


BodySource = Callable[[], Awaitable[tuple[bytes, bool]]]


async def send_body(stream: AppStream, first: bytes, source: BodySource, chunked: bool) -> None:
    """Write the head (``first``) and the body pieces ``source`` yields (piece, more)."""
    pending = first
    while True:
        piece, more = await source()
        if chunked and piece:
            piece = b"%x\r\n%s\r\n" % (len(piece), piece)
        if chunked and not more:
            piece += b"0\r\n\r\n"
        pending += piece
        if pending:
            await stream.write(pending)
            pending = b""
        if not more:
            return
