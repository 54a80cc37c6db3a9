"""Low-level requests: :class:`Request` and the responses and streams it opens.

``Request.fetch()`` works with both sessions (``with`` for :class:`Session`, ``async with``
for :class:`AsyncSession`); WebSocket and Server-Sent Events streams need an AsyncSession.
Every way in tries the configured endpoints in turn when a connection cannot be made.
"""

from __future__ import annotations

import asyncio
import enum
import json as jsonlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.parse import quote, urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from hangar.client.auth import sign_headers
from hangar.client.exceptions import BackendAPIError, BackendClientError
from hangar.client.session import BaseSession, api_session

__all__ = [
    "AttachedFile",
    "BaseResponse",
    "FetchContextManager",
    "Request",
    "Response",
    "SSEContextManager",
    "SSEMessage",
    "SSEResponse",
    "WSMessage",
    "WSMsgType",
    "WebSocketContextManager",
    "WebSocketResponse",
]

RequestContent = bytes | bytearray | str | IO[bytes] | None
ALLOWED_METHODS = frozenset(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
STREAM_CONTENT_TYPE = "application/octet-stream"
PATH_SAFE = "/:@-._~!$&'()*+,;="


class AttachedFile(NamedTuple):
    """A file attached to a request: its stored name (may hold sub-directories), a
    readable binary stream and its content type."""

    filename: str
    stream: Any
    content_type: str


class _JSONEncoder(jsonlib.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Path | Decimal):
            return str(o)
        return super().default(o)


def _query(params: Mapping[str, Any]) -> str:
    def text(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return urlencode([(k, text(v)) for k, v in params.items() if v is not None])


def _connection_failure(endpoints: Sequence[Any], exc: BaseException) -> BackendClientError:
    tried = ", ".join(str(e) for e in endpoints)
    reason = str(exc) or type(exc).__name__
    return BackendClientError(f"Cannot reach the API endpoint ({tried}): {reason}")


class Request:
    """One API request: method, path (relative to the endpoint), parameters and body."""

    def __init__(
        self,
        method: str = "GET",
        path: str | None = None,
        content: RequestContent = None,
        *,
        content_type: str | None = None,
        params: Mapping[str, Any] | None = None,
        reporthook: Callable[[int], None] | None = None,
        override_api_version: str | None = None,
        session: BaseSession | None = None,
    ) -> None:
        if session is None:
            try:
                session = api_session.get()
            except LookupError:
                raise BackendClientError("Open a Session or AsyncSession first.") from None
        self.session = session
        self.config = session.config
        self.method = method.upper()
        self.path = (path or "").lstrip("/")
        self.params = dict(params or {})
        self.reporthook = reporthook
        major, date = session.api_version
        self.api_version = override_api_version or f"v{major}.{date}"
        self.date: datetime | None = None
        self._attached_files: Sequence[AttachedFile] | None = None
        self._content: Any = b""
        self.content_type = "text/plain"
        self.set_content(content, content_type=content_type)

    @property
    def content(self) -> Any:
        """The body as it was set."""
        return self._content

    def set_content(self, value: RequestContent, *, content_type: str | None = None) -> None:
        """Set the body: ``None`` or text (``text/plain``), bytes or a binary stream."""
        if self._attached_files is not None:
            raise BackendClientError("Cannot set content after attaching files.")
        if value is None:
            self._content, guessed = b"", "text/plain"
        elif isinstance(value, str):
            self._content, guessed = value.encode(), "text/plain"
        else:
            self._content, guessed = value, STREAM_CONTENT_TYPE
        self.content_type = content_type if content_type is not None else guessed

    def set_json(self, value: Any) -> None:
        """Set a JSON body."""
        self.set_content(jsonlib.dumps(value, cls=_JSONEncoder), content_type="application/json")

    def attach_files(self, files: Sequence[AttachedFile]) -> None:
        """Send ``files`` as ``multipart/form-data`` parts named ``src``."""
        if self._content:
            raise BackendClientError("Cannot attach files to a request with content.")
        self.content_type = "multipart/form-data"
        self._attached_files = list(files)

    # -- building -------------------------------------------------------------------------

    def _url(self) -> httpx.URL:
        base = str(self.config.endpoint).rstrip("/")
        path = self.path
        if self.config.endpoint_type == "session" and not path.startswith("server"):
            path = "func/" + path
        url = f"{base}/{quote(path, safe=PATH_SAFE)}"
        if self.params:
            url += "?" + _query(self.params)
        return httpx.URL(url)

    def _headers(self, url: httpx.URL, signed_type: str) -> dict[str, str]:
        self.date = datetime.now(UTC)
        headers = {
            "User-Agent": self.config.user_agent,
            "X-BackendAI-Domain": self.config.domain,
            "X-BackendAI-Version": self.api_version,
            "Date": self.date.isoformat(),
        }
        if self.config.endpoint_type == "api" and not self.config.is_anonymous:
            headers.update(
                sign_headers(
                    method=self.method,
                    version=self.api_version,
                    host=url.netloc.decode("ascii"),
                    date=self.date,
                    rel_url=url.raw_path.decode("ascii"),
                    content_type=signed_type,
                    access_key=self.config.access_key,
                    secret_key=self.config.secret_key,
                    hash_type=self.config.hash_type,
                )
            )
        return headers

    def _build(self) -> httpx.Request:
        url = self._url()
        headers = self._headers(url, self.content_type)
        http = self.session.http
        if self._attached_files is not None:
            files = [
                ("src", (quote(f.filename, safe=""), f.stream, f.content_type))
                for f in self._attached_files
            ]
            return http.build_request(self.method, url, headers=headers, files=files)
        headers["Content-Type"] = self.content_type
        return http.build_request(self.method, url, headers=headers, content=self._content)

    def _build_stream(self) -> httpx.Request:
        url = self._url()
        headers = self._headers(url, STREAM_CONTENT_TYPE)
        headers["Accept"] = "text/event-stream"
        return self.session.http.build_request(self.method, url, headers=headers)

    # -- sending --------------------------------------------------------------------------

    def fetch(
        self,
        *,
        check_status: bool = True,
        response_cls: type[Response] | None = None,
    ) -> FetchContextManager:
        """Send the request; use as ``with`` (Session) or ``async with`` (AsyncSession)."""
        if self.method not in ALLOWED_METHODS:
            raise BackendClientError(f"Disallowed HTTP method: {self.method}")
        return FetchContextManager(
            self.session,
            self._build,
            response_cls=response_cls or Response,
            check_status=check_status,
        )

    def connect_websocket(
        self,
        *,
        on_enter: Callable[[WebSocketResponse], Awaitable[None]] | None = None,
        response_cls: type[WebSocketResponse] | None = None,
    ) -> WebSocketContextManager:
        """Open a WebSocket (AsyncSession only)."""
        if self.method != "GET":
            raise BackendClientError("A WebSocket is opened with GET.")
        return WebSocketContextManager(
            self.session,
            self._ws_open,
            on_enter=on_enter,
            response_cls=response_cls or WebSocketResponse,
        )

    def connect_events(self, *, response_cls: type[SSEResponse] | None = None) -> SSEContextManager:
        """Open a Server-Sent Events stream (AsyncSession only)."""
        if self.method != "GET":
            raise BackendClientError("An event stream is opened with GET.")
        return SSEContextManager(self.session, self._build_stream, response_cls=response_cls)

    async def _ws_open(self) -> ClientConnection:
        url = self._url()
        headers = self._headers(url, STREAM_CONTENT_TYPE)
        user_agent = headers.pop("User-Agent")
        cookies = self.session.http.cookies
        if self.config.endpoint_type == "session" and cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        ws_url = str(url).replace("http", "ws", 1)
        return await connect(
            ws_url,
            additional_headers=headers,
            user_agent_header=user_agent,
            open_timeout=self.config.connection_timeout or None,
            ping_interval=30,
            max_size=None,
            proxy=None,
        )


async def _with_failover(session: BaseSession, attempt: Callable[[], Awaitable[Any]]) -> Any:
    config = session.config
    endpoints = list(config.endpoints)
    for tries in range(1, len(endpoints) + 1):
        try:
            return await attempt()
        except (httpx.ConnectError, httpx.ConnectTimeout, OSError, TimeoutError) as exc:
            if tries == len(endpoints):
                raise _connection_failure(endpoints, exc) from exc
            config.rotate_endpoints()
        finally:
            config.load_balance_endpoints()
    raise AssertionError("unreachable")


class BaseResponse:
    """A response of the API; the SDK creates these, callers read them."""

    def __init__(
        self, session: BaseSession, underlying_response: httpx.Response, *, async_mode: bool = True
    ) -> None:
        self._session = session
        self._raw_response = underlying_response
        self._async_mode = async_mode
        self._chunks: AsyncIterator[bytes] | None = None
        self._buffer = b""

    @property
    def session(self) -> BaseSession:
        return self._session

    @property
    def status(self) -> int:
        return self._raw_response.status_code

    @property
    def reason(self) -> str:
        return self._raw_response.reason_phrase

    @property
    def headers(self) -> httpx.Headers:
        return self._raw_response.headers

    @property
    def raw_response(self) -> httpx.Response:
        return self._raw_response

    @property
    def content_type(self) -> str:
        return str(self._raw_response.headers.get("content-type", "")).split(";")[0].strip()

    @property
    def content_length(self) -> int | None:
        value = self._raw_response.headers.get("content-length")
        return int(value) if value is not None else None

    def _result(self, coro: Any) -> Any:
        return coro if self._async_mode else self._session.run_sync(coro)

    async def _read(self, n: int = -1) -> bytes:
        if n < 0:
            rest = [self._buffer]
            async for chunk in self._iter():
                rest.append(chunk)
            self._buffer = b""
            return b"".join(rest)
        while len(self._buffer) < n:
            try:
                self._buffer += await self._iter().__anext__()
            except StopAsyncIteration:
                break
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _iter(self) -> AsyncIterator[bytes]:
        if self._chunks is None:
            self._chunks = self._raw_response.aiter_bytes()
        return self._chunks

    async def _text(self) -> str:
        return (await self._read()).decode(self._raw_response.encoding or "utf-8")

    async def _json(self) -> Any:
        return jsonlib.loads(await self._read())


class Response(BaseResponse):
    """``text()``, ``json()``, ``read()`` return values in a Session, coroutines otherwise."""

    def text(self) -> Any:
        return self._result(self._text())

    def json(self) -> Any:
        return self._result(self._json())

    def read(self, n: int = -1) -> Any:
        return self._result(self._read(n))

    def readall(self) -> Any:
        return self._result(self._read())

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk (AsyncSession, or inside the SDK)."""
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        async for chunk in self._iter():
            yield chunk


class FetchContextManager:
    """Returned by :meth:`Request.fetch`: a sync and async context manager."""

    def __init__(
        self,
        session: BaseSession,
        rqst_builder: Callable[[], httpx.Request],
        *,
        response_cls: type[Response] = Response,
        check_status: bool = True,
    ) -> None:
        self.session = session
        self.rqst_builder = rqst_builder
        self.response_cls = response_cls
        self.check_status = check_status
        self._raw: httpx.Response | None = None

    async def _send(self) -> httpx.Response:
        try:
            return await self.session.http.send(self.rqst_builder(), stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise
        except httpx.TimeoutException as exc:
            raise BackendClientError(
                f"The API endpoint {self.session.config.endpoint} did not answer in time."
            ) from exc
        except httpx.HTTPError as exc:
            raise BackendClientError(f"API endpoint response error: {exc!r}") from exc

    async def __aenter__(self) -> Response:
        raw: httpx.Response = await _with_failover(self.session, self._send)
        if self.check_status and raw.status_code // 100 != 2:
            body = await raw.aread()
            await raw.aclose()
            raise BackendAPIError(
                raw.status_code, raw.reason_phrase, body.decode("utf-8", errors="replace")
            )
        self._raw = raw
        return self.response_cls(self.session, raw, async_mode=True)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._raw is not None:
            await self._raw.aclose()
            self._raw = None

    def __enter__(self) -> Response:
        response = self.session.run_sync(self.__aenter__())
        response._async_mode = False
        return response

    def __exit__(self, *exc_info: object) -> None:
        self.session.run_sync(self.__aexit__(*exc_info))


class WSMsgType(enum.IntEnum):
    """WebSocket message types (the same numbers as the opcodes, and as aiohttp's)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    PING = 0x9
    PONG = 0xA
    CLOSE = 0x8
    CLOSING = 0x100
    CLOSED = 0x101
    ERROR = 0x102


class WSMessage(NamedTuple):
    type: WSMsgType
    data: Any
    extra: Any = None

    def json(self) -> Any:
        return jsonlib.loads(self.data)


class WebSocketResponse:
    """An open WebSocket: iterate it for :class:`WSMessage` items, send with ``send_*``."""

    def __init__(self, session: BaseSession, websocket: ClientConnection) -> None:
        self._session = session
        self._ws = websocket
        self._exception: BaseException | None = None

    @property
    def session(self) -> BaseSession:
        return self._session

    @property
    def status(self) -> int:
        return 101

    @property
    def raw_websocket(self) -> ClientConnection:
        return self._ws

    @property
    def closed(self) -> bool:
        return self._ws.close_code is not None

    def exception(self) -> BaseException | None:
        return self._exception

    async def close(self) -> None:
        await self._ws.close()

    async def __aiter__(self) -> AsyncIterator[WSMessage]:
        while True:
            try:
                data = await self._ws.recv()
            except ConnectionClosed as exc:
                if exc.rcvd is None or exc.rcvd.code not in (1000, 1001):
                    self._exception = exc
                return
            kind = WSMsgType.TEXT if isinstance(data, str) else WSMsgType.BINARY
            yield WSMessage(kind, data)

    def _check_open(self) -> None:
        if self.closed:
            raise BackendClientError("The server closed the connection.")

    async def send_str(self, raw_str: str) -> None:
        self._check_open()
        await self._ws.send(raw_str)

    send_text = send_str

    async def send_json(self, obj: Any) -> None:
        await self.send_str(jsonlib.dumps(obj))

    async def send_bytes(self, data: bytes) -> None:
        self._check_open()
        await self._ws.send(data)

    async def receive(self) -> WSMessage:
        try:
            data = await self._ws.recv()
        except ConnectionClosed:
            return WSMessage(WSMsgType.CLOSED, None)
        kind = WSMsgType.TEXT if isinstance(data, str) else WSMsgType.BINARY
        return WSMessage(kind, data)

    async def receive_str(self) -> str:
        msg = await self.receive()
        if msg.type is not WSMsgType.TEXT:
            raise BackendClientError(f"Expected a text message, got {msg.type.name}.")
        return str(msg.data)

    async def receive_json(self) -> Any:
        return jsonlib.loads(await self.receive_str())

    async def receive_bytes(self) -> bytes:
        msg = await self.receive()
        if msg.type is not WSMsgType.BINARY:
            raise BackendClientError(f"Expected a binary message, got {msg.type.name}.")
        return bytes(msg.data)


class WebSocketContextManager:
    """Returned by :meth:`Request.connect_websocket` (``async with`` only)."""

    def __init__(
        self,
        session: BaseSession,
        ws_ctx_builder: Callable[[], Awaitable[ClientConnection]],
        *,
        on_enter: Callable[[Any], Awaitable[None]] | None = None,
        response_cls: type[WebSocketResponse] = WebSocketResponse,
    ) -> None:
        self.session = session
        self.ws_ctx_builder = ws_ctx_builder
        self.on_enter = on_enter
        self.response_cls = response_cls
        self._ws: ClientConnection | None = None

    async def _open(self) -> ClientConnection:
        try:
            return await self.ws_ctx_builder()
        except InvalidStatus as exc:
            response = exc.response
            raise BackendAPIError(
                response.status_code,
                response.reason_phrase,
                (response.body or b"").decode("utf-8", errors="replace"),
            ) from exc
        except InvalidHandshake as exc:
            raise BackendClientError(f"API endpoint response error: {exc!r}") from exc

    async def __aenter__(self) -> WebSocketResponse:
        self._ws = await _with_failover(self.session, self._open)
        wrapped = self.response_cls(self.session, self._ws)
        if self.on_enter is not None:
            await self.on_enter(wrapped)
        return wrapped

    async def __aexit__(self, *exc_info: object) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None


class SSEMessage(NamedTuple):
    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEResponse(BaseResponse):
    """An event stream; iterate it for :class:`SSEMessage` items.

    When the server ends the stream without a ``server_close`` event, it reconnects after
    ``retry`` seconds (the server may change it), like browsers do.
    """

    def __init__(
        self,
        session: BaseSession,
        underlying_response: httpx.Response,
        *,
        connector: Callable[[], Awaitable[httpx.Response]],
        auto_reconnect: bool = True,
        default_retry: float = 5,
    ) -> None:
        super().__init__(session, underlying_response, async_mode=True)
        self._connector = connector
        self._auto_reconnect = auto_reconnect
        self._retry = default_retry

    async def fetch_events(self) -> AsyncIterator[SSEMessage]:
        while True:
            async for message in self._messages():
                yield message
                if message.event == "server_close":
                    return
            if not self._auto_reconnect:
                return
            await asyncio.sleep(self._retry)
            self._raw_response = await self._connector()

    async def _messages(self) -> AsyncIterator[SSEMessage]:
        fields: dict[str, list[str]] = {}
        async for line in self._raw_response.aiter_lines():
            line = line.rstrip("\r\n")
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value.removeprefix(" "))
                continue
            if not fields:
                continue
            retry = fields.get("retry", [None])[-1]
            if retry is not None and retry.isdigit():
                self._retry = int(retry)
            yield SSEMessage(
                event=fields.get("event", ["message"])[-1],
                data="\n".join(fields.get("data", [])),
                id=fields.get("id", [None])[-1],
                retry=int(retry) if retry is not None and retry.isdigit() else None,
            )
            fields = {}

    def __aiter__(self) -> AsyncIterator[SSEMessage]:
        return self.fetch_events()


class SSEContextManager:
    """Returned by :meth:`Request.connect_events` (``async with`` only)."""

    def __init__(
        self,
        session: BaseSession,
        rqst_builder: Callable[[], httpx.Request],
        *,
        response_cls: type[SSEResponse] | None = None,
    ) -> None:
        self.session = session
        self.rqst_builder = rqst_builder
        self.response_cls = response_cls or SSEResponse
        self._raw: httpx.Response | None = None

    async def reconnect(self) -> httpx.Response:
        if self._raw is not None:
            await self._raw.aclose()
        raw: httpx.Response = await _with_failover(
            self.session, lambda: self.session.http.send(self.rqst_builder(), stream=True)
        )
        if raw.status_code // 100 != 2:
            body = await raw.aread()
            await raw.aclose()
            raise BackendAPIError(raw.status_code, raw.reason_phrase, body.decode(errors="replace"))
        self._raw = raw
        return raw

    async def __aenter__(self) -> SSEResponse:
        raw = await self.reconnect()
        return self.response_cls(self.session, raw, connector=self.reconnect)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._raw is not None:
            await self._raw.aclose()
            self._raw = None
