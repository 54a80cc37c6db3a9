"""A pod's exposed HTTP ports, reached at ``/pod-proxy/{pod id}/{port}/...`` (the pod's
``expose[].ingressUrl``) with the owner's API key (``X-Api-Key`` or ``Authorization:
Bearer``, never passed on), through the pod's agent (the app proxy every face uses).

The exchange is the serverless gateway's (:mod:`hangar.api.gateway.upstream`): HTTP/1.1,
the caller's body goes up as it comes and the answer's body comes back piece by piece (a
stream of server-sent events event by event); a connection the pod keeps open waits for
the owner's next request (:mod:`hangar.api.gateway.pool`). A WebSocket upgrade is passed
through (:mod:`hangar.api.gateway.sockets`), refused as an HTTP request would be.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send

from hangar.api.cloud.auth import authenticate
from hangar.api.cloud.envelope import CloudProblems
from hangar.api.cloud.podwire import PROXY_PREFIX
from hangar.api.common.errors import refuse
from hangar.api.common.routing import FaceApp, FaceRoute
from hangar.api.gateway.app import Body, ClientGone, ask, body_framing
from hangar.api.gateway.pool import Connections
from hangar.api.gateway.sockets import relay_websocket
from hangar.api.gateway.upstream import Exchange, Truncated, WorkerGone, request_head
from hangar.core.agents.client import AppStream
from hangar.core.compute.ports import PortProtocol
from hangar.core.errors import HangarError, InvalidRequest, NotFound, Unavailable
from hangar.core.principal import Principal
from hangar.core.services import Services

KEY_HEADERS = frozenset({b"x-api-key", b"authorization"})


class Kept:
    """Kept-alive connections, per running session and port (a paused and resumed pod is
    a new session: its old connections are never reused)."""

    def __init__(self) -> None:
        self.pool = Connections()
        self._ids: dict[tuple[str, int], int] = {}

    def key(self, session_id: str, port: int) -> int:
        return self._ids.setdefault((session_id, port), len(self._ids))


class Target:
    """The pod port a request names, once its owner is known."""

    def __init__(self, principal: Principal, session_id: str, port: int) -> None:
        self.principal, self.session_id, self.port = principal, session_id, port


async def resolve(services: Services, scope: Scope) -> Target:
    """The caller's pod and port (401, 13000 for another user's pod, 10001 for bad ids)."""
    principal = await authenticate(services, cast(Request, HTTPConnection(scope)))
    params = scope.get("path_params", {})
    raw_id, raw_port = str(params.get("id", "")), str(params.get("port", ""))
    if not raw_id.isdigit() or len(raw_id) > 18 or not raw_port.isdigit() or len(raw_port) > 5:
        raise InvalidRequest("pod id and port must be numbers")
    pod = await services.pods.get(principal, int(raw_id))
    port = int(raw_port)
    if not any(p.port == port and p.protocol is PortProtocol.HTTP for p in pod.spec.ports):
        raise NotFound("service", f"Pod {pod.id} exposes no HTTP port {port}.")
    if pod.session_id is None:
        raise NotFound("service", f"Pod {pod.id} is not running.")
    return Target(principal, str(pod.session_id), port)


def pod_path(scope: Scope) -> bytes:
    """The path and query below ``/pod-proxy/{id}/{port}``, as the caller wrote them."""
    raw = scope.get("raw_path") or scope["path"].encode("latin-1")
    parts = raw.split(b"?", 1)[0].split(b"/", 4)
    path = b"/" + (parts[4] if len(parts) > 4 else b"")
    query = scope.get("query_string", b"")
    return path + (b"?" + query if query else b"")


def upstream_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in scope["headers"] if k not in KEY_HEADERS]


class Relay(Response):
    """The pod's answer passed on as it arrives; the connection kept after a clean end."""

    def __init__(self, exchange: Exchange, stream: AppStream, kept: Kept, key: int) -> None:
        self.exchange, self.stream, self.kept, self.key = exchange, stream, kept, key
        self.status_code = exchange.status
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        keep = False
        try:
            keep = await self._relay(receive, send)
        finally:
            if keep:
                self.kept.pool.give(self.key, self.stream)
            else:
                await self.stream.close()

    async def _relay(self, receive: Receive, send: Send) -> bool:
        exchange = self.exchange
        await send({"type": "http.response.start", "status": exchange.status,
                    "headers": exchange.headers})  # fmt: skip
        sized = any(name == b"content-length" for name, _ in exchange.headers)
        watcher = None if sized else asyncio.ensure_future(_close_on_leave(receive, self.stream))
        try:
            async for piece in exchange.body():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        except Truncated:
            return False
        finally:
            if watcher is not None:
                watcher.cancel()
        await send({"type": "http.response.body", "body": b""})
        return exchange.reusable and (watcher is None or not watcher.done())


async def _close_on_leave(receive: Receive, stream: AppStream) -> None:
    """End the pod's stream when the caller goes away (an answer without an end: SSE)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    with contextlib.suppress(Exception):
        await stream.close()


async def proxy(request: Request) -> Response:
    services: Services = request.app.state.services
    kept: Kept = request.app.state.pod_connections
    scope = request.scope
    target = await resolve(services, scope)
    key, method = kept.key(target.session_id, target.port), scope["method"]
    body, framing = Body(request.receive), body_framing(scope)
    host = b"127.0.0.1:%d" % target.port
    head = request_head(method, pod_path(scope), upstream_headers(scope), host, framing)
    stream = kept.pool.take(key)
    while True:
        reused = stream is not None
        if stream is None:
            stream = await services.apps.open(target.principal, target.session_id,
                                              app=str(target.port))  # fmt: skip
        try:
            exchange = await ask(stream, method, head, body, framing)
        except WorkerGone as exc:
            await stream.close()
            if reused and body.replayable:  # the pod had closed the kept one: a new one
                stream = None
                continue
            raise Unavailable(f"The pod's port did not answer: {exc}") from None
        except ClientGone:
            await stream.close()
            raise InvalidRequest("the caller went away during its request body") from None
        return Relay(exchange, stream, kept, key)


class Socket:
    """A WebSocket to the pod's port: refused as an HTTP request would be, else relayed."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services = scope["app"].state.services
        try:
            target = await resolve(services, scope)
            stream = await services.apps.open(
                target.principal, target.session_id, app=str(target.port)
            )
        except HangarError as exc:
            await refuse(CloudProblems(), scope, receive, send, exc)
            return
        await relay_websocket(stream, pod_path(scope), upstream_headers(scope), scope, receive,
                              send)  # fmt: skip


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_pod_proxy_app(services: Services) -> FaceApp:
    socket = Socket()
    routes = [
        FaceRoute(PROXY_PREFIX + "/{id}/{port}/{path:path}", proxy, METHODS, 200),
        FaceRoute(PROXY_PREFIX + "/{id}/{port}", proxy, METHODS, 200),
        WebSocketRoute(PROXY_PREFIX + "/{id}/{port}/{path:path}", socket),
        WebSocketRoute(PROXY_PREFIX + "/{id}/{port}", socket),
    ]
    app = FaceApp(routes, services, CloudProblems())
    app.state.pod_connections = Kept()
    return app
