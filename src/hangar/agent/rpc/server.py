"""The agent's HTTP/WebSocket face for the manager: every :class:`~hangar.agent.node.Node`
operation as one route, behind the shared agent token.

Plain calls take and return :mod:`hangar.agent.rpc.wire` models in JSON; runs stream one JSON
line per output; service apps and the terminal are WebSockets carrying the raw bytes (text
frames carry the opening acknowledgement or failure, and terminal control).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from hangar.agent.errors import AgentError
from hangar.agent.models import RunOutput
from hangar.agent.node import Node
from hangar.agent.rpc import wire
from hangar.agent.rpc.runs import RunRefused, RunStore
from hangar.agent.services.pty import PtyClient
from hangar.agent.services.streams import ProcessStream, SocketStream

log = logging.getLogger("hangar.agent.rpc")
W = TypeVar("W", bound=wire.Wire)
MAX_BODY = 1 << 30
NDJSON = "application/x-ndjson"
K = "/kernels/{kernel_id:uuid}"  # a kernel's routes


def _json(body: wire.Wire, status: int = 200) -> Response:
    return Response(body.model_dump_json(), status_code=status, media_type="application/json")


def _failure(error: str, message: str, status: int) -> Response:
    return _json(wire.Failure(error=error, message=message), status)


async def _parse(request: Request, model: type[W]) -> W:
    return model.model_validate_json(await request.body())


def _kernel(request: Request | WebSocket) -> uuid.UUID:
    kernel_id: uuid.UUID = request.path_params["kernel_id"]  # the route's uuid convertor
    return kernel_id


class TokenGate:
    """Refuses every request that lacks ``Authorization: Bearer <token>`` (compared in constant
    time): 401 for HTTP, a closed handshake (403) for WebSockets."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self._expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 4401})
                    return
                response = _failure("Unauthorized", "A valid agent token is required.", 401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_agent_app(node: Node, token: str, runs: RunStore | None = None) -> ASGIApp:
    """The ASGI app serving ``node`` to a manager holding ``token`` (``runs``: where queued
    tasks' run directories go; without it the agent refuses them)."""
    api = _AgentApi(node, runs)

    def call(path: str, method: str, handler: Handler) -> Route:
        return Route(path, _guarded(handler), methods=[method])

    routes = [
        call("/info", "GET", api.info),
        call("/usage", "GET", api.usage),
        call("/images/pull", "POST", api.image_pull),
        call("/kernels", "POST", api.create_kernel),
        call(K, "DELETE", api.destroy_kernel),
        call(K + "/restart", "POST", api.restart_kernel),
        call(K + "/suspend", "POST", api.suspend_kernel),
        call(K + "/batch", "POST", api.run_batch),
        call(K + "/query", "POST", api.run_query),
        call(K + "/input", "POST", api.send_input),
        call(K + "/complete", "POST", api.complete),
        call(K + "/interrupt", "POST", api.interrupt),
        call(K + "/stats", "GET", api.stats),
        call(K + "/logs", "GET", api.logs),
        call(K + "/upload", "POST", api.upload),
        call(K + "/download", "POST", api.download),
        call(K + "/files", "POST", api.list_files),
        call(K + "/output-files", "GET", api.output_files),
        call("/shutdown", "POST", api.shutdown),
        call("/runs", "POST", api.ship_run),
        WebSocketRoute(K + "/apps/{app}", api.app_socket),
        WebSocketRoute(K + "/terminal", api.terminal_socket),
    ]
    return TokenGate(Starlette(routes=routes), token)


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    """Maps the node's errors to a Failure body, bad messages to 422, anything else to 500."""

    async def call(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return _failure("PayloadTooLarge", "The request body is too large.", 413)
        try:
            return await handler(request)
        except AgentError as exc:
            return _json(wire.failure(exc), 400)
        except ValidationError as exc:
            return _failure("InvalidMessage", str(exc), 422)
        except Exception as exc:  # the manager shows the message; the trace stays here
            log.exception("agent call %s failed", request.url.path)
            return _failure("AgentError", f"The agent failed: {type(exc).__name__}", 500)

    return call


class _AgentApi:
    def __init__(self, node: Node, runs: RunStore | None) -> None:
        self.node, self.runs = node, runs

    async def usage(self, request: Request) -> Response:
        return _json(wire.Usage(usage=await self.node.usage()))

    async def image_pull(self, request: Request) -> Response:
        body = await _parse(request, wire.PullAsked)
        return _json(wire.PullStatus(pull=await self.node.image_pull(body.reference)))

    async def info(self, request: Request) -> Response:
        return _json(wire.Info(info=await self.node.info()))

    async def create_kernel(self, request: Request) -> Response:
        body = await _parse(request, wire.CreateKernel)
        await self.node.create_kernel(body.request)
        return Response(status_code=204)

    async def destroy_kernel(self, request: Request) -> Response:
        stats = await self.node.destroy_kernel(_kernel(request))
        if self.runs is not None:
            await self.runs.drop_kernel(_kernel(request))
        return _json(wire.Stats(stats=stats))

    async def restart_kernel(self, request: Request) -> Response:
        await self.node.restart_kernel(_kernel(request))
        return Response(status_code=204)

    async def suspend_kernel(self, request: Request) -> Response:
        await self.node.suspend_kernel(_kernel(request))
        return Response(status_code=204)

    async def run_batch(self, request: Request) -> Response:
        body = await _parse(request, wire.RunBatch)
        return _stream(self.node.run_batch(_kernel(request), body.steps))

    async def run_query(self, request: Request) -> Response:
        body = await _parse(request, wire.RunQuery)
        return _stream(self.node.run_query(_kernel(request), body.code, body.timeout))

    async def send_input(self, request: Request) -> Response:
        body = await _parse(request, wire.Input)
        await self.node.send_input(_kernel(request), body.text)
        return Response(status_code=204)

    async def complete(self, request: Request) -> Response:
        body = await _parse(request, wire.Complete)
        items = await self.node.complete(_kernel(request), body.code, body.options)
        return _json(wire.Strings(items=items))

    async def interrupt(self, request: Request) -> Response:
        await self.node.interrupt(_kernel(request))
        return Response(status_code=204)

    async def stats(self, request: Request) -> Response:
        return _json(wire.Stats(stats=await self.node.stats(_kernel(request))))

    async def logs(self, request: Request) -> Response:
        return _json(wire.Text(text=await self.node.logs(_kernel(request))))

    async def upload(self, request: Request) -> Response:
        body = await _parse(request, wire.Upload)
        await self.node.upload(_kernel(request), body.files)
        return Response(status_code=204)

    async def download(self, request: Request) -> Response:
        body = await _parse(request, wire.Download)
        return _json(wire.Archives(archives=await self.node.download(_kernel(request), body.paths)))

    async def list_files(self, request: Request) -> Response:
        body = await _parse(request, wire.ListFiles)
        path, entries = await self.node.list_files(_kernel(request), body.path)
        return _json(wire.Listing(path=path, entries=entries))

    async def output_files(self, request: Request) -> Response:
        return _json(wire.Strings(items=await self.node.output_files(_kernel(request))))

    async def ship_run(self, request: Request) -> Response:
        body = await _parse(request, wire.ShipRun)
        if self.runs is None:
            raise RunRefused("This agent takes no queued tasks' runs.")
        root = await self.runs.put(body.key, body.kernel_id, body.archive)
        return _json(wire.Text(text=str(root)))

    async def shutdown(self, request: Request) -> Response:
        await self.node.shutdown()
        return Response(status_code=204)

    async def app_socket(self, websocket: WebSocket) -> None:
        app = websocket.path_params["app"]
        await _serve_stream(websocket, lambda: self.node.open_app(_kernel(websocket), app))

    async def terminal_socket(self, websocket: WebSocket) -> None:
        await _serve_stream(websocket, lambda: self.node.open_terminal(_kernel(websocket)))


def _stream(outputs: AsyncGenerator[RunOutput, None]) -> StreamingResponse:
    """One JSON line per output; a node error ends the stream with a Failure line. When the
    manager goes away mid-run the run is closed, which stops it."""

    async def lines() -> AsyncIterator[bytes]:
        try:
            async with contextlib.aclosing(outputs):
                async for output in outputs:
                    yield wire.Output(output=output).model_dump_json().encode() + b"\n"
        except AgentError as exc:
            yield wire.failure(exc).model_dump_json().encode() + b"\n"

    return StreamingResponse(lines(), media_type=NDJSON)


Stream = SocketStream | ProcessStream | PtyClient


async def _serve_stream(websocket: WebSocket, open_stream: Callable[[], Awaitable[Stream]]) -> None:
    """Opens the stream, acknowledges (or reports the failure) in a text frame, then copies
    bytes both ways until either side ends."""
    await websocket.accept()
    try:
        stream = await open_stream()
    except AgentError as exc:
        await websocket.send_text(wire.failure(exc).model_dump_json())
        await websocket.close()
        return
    await websocket.send_text('{"ok":true}')

    async def downstream() -> None:
        while data := await stream.read():
            await websocket.send_bytes(data)

    async def upstream() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await stream.write(message["bytes"])
            elif message.get("text") is not None and isinstance(stream, PtyClient):
                await _control(stream, message["text"])

    tasks = [asyncio.create_task(downstream()), asyncio.create_task(upstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await stream.close()
        with contextlib.suppress(Exception):
            await websocket.close()


async def _control(terminal: PtyClient, text: str) -> None:
    if text == '{"op":"restart"}':
        await terminal.restart()
        return
    with contextlib.suppress(ValidationError):
        size = wire.Resize.model_validate_json(text)
        await terminal.resize(size.rows, size.cols)
