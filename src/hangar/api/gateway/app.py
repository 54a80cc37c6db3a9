"""The gateway's ASGI app: a request is resolved (:mod:`.routing`), waits for a RUNNING
worker when none is up (a scaled-to-zero endpoint is woken), goes to the worker with the
fewest open requests (:mod:`.balancer`) and its answer streams back (:mod:`.upstream`);
WebSockets are passed through (:mod:`.sockets`).

A worker that refuses the connection, or closes it before answering anything, is reported
to the endpoints' loop and the request goes to another worker: any request when nothing
was sent, an idempotent one (GET, HEAD, OPTIONS, PUT, DELETE) whose body fits in 1 MiB
otherwise. The gateway's own answers are the cloud face's envelope ``{message, code,
data}`` with a real HTTP status: 401 (key), 404 (endpoint), 502 (workers failed), 503 (no
worker running, endpoint stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hangar.api.gateway import stats
from hangar.api.gateway.balancer import Balancer
from hangar.api.gateway.pool import Connections
from hangar.api.gateway.routing import (
    Refusal,
    Resolver,
    Target,
    header,
    host_label,
    host_target,
    path_target,
)
from hangar.api.gateway.sockets import relay_websocket
from hangar.api.gateway.upstream import Exchange, Truncated, WorkerGone, request_head, send_body
from hangar.core.agents.client import AppStream
from hangar.core.endpoints.models import Endpoint, WorkerTarget
from hangar.core.errors import HangarError, Unavailable
from hangar.core.services import Services

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
REPLAY_BYTES = 1 << 20
MAX_ATTEMPTS = 3


class ClientGone(Exception):
    """The caller disconnected while its body was being read."""


class Body:
    """The caller's body as the worker reads it; kept (up to REPLAY_BYTES) so that it can be
    sent again to another worker."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._kept: list[bytes] = []
        self._size = 0
        self._done = False
        self.replayable = True

    def reader(self) -> Any:
        """A fresh source of (piece, more): what was kept, then the rest as it comes."""
        kept = iter(list(self._kept))

        async def next_piece() -> tuple[bytes, bool]:
            for piece in kept:
                return piece, True
            if self._done:
                return b"", False
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            piece, more = message.get("body", b""), message.get("more_body", False)
            self._done = not more
            if self.replayable and piece:
                self._size += len(piece)
                self._kept.append(piece)
                if self._size > REPLAY_BYTES:
                    self.replayable, self._kept = False, []
            return piece, more

        return next_piece


def refusal_body(exc: Refusal) -> bytes:
    return json.dumps({"message": exc.message, "code": exc.code, "data": None}).encode()


async def answer_refusal(send: Send, exc: Refusal) -> None:
    body = refusal_body(exc)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if exc.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def forwarded(scope: Scope, drop: bytes) -> list[tuple[bytes, bytes]]:
    """The caller's headers for the worker: less the one carrying the platform key, plus
    ``X-Forwarded-For/-Proto/-Host``."""
    headers = [(k, v) for k, v in scope["headers"] if k != drop]
    client = scope.get("client")
    if client:
        prior = header(scope, b"x-forwarded-for")
        address = client[0].encode()
        headers = [(k, v) for k, v in headers if k != b"x-forwarded-for"]
        headers.append((b"x-forwarded-for", prior + b", " + address if prior else address))
    headers.append(
        (b"x-forwarded-proto", b"https" if scope.get("scheme") in ("https", "wss") else b"http")
    )
    if (host := header(scope, b"host")) is not None:
        headers.append((b"x-forwarded-host", host))
    return headers


def body_framing(scope: Scope) -> str | int | None:
    length = header(scope, b"content-length")
    if length is not None and length.isdigit():
        return int(length)
    if header(scope, b"transfer-encoding") is not None:
        return "chunked"
    return None


async def ask(
    stream: AppStream, method: str, head: bytes, body: Body, framing: str | int | None
) -> Exchange:
    """Send the request; the exchange once the answer's head came. Raises WorkerGone."""
    try:
        if framing is None:
            await stream.write(head)
        else:
            await send_body(stream, head, body.reader(), framing == "chunked")
    except (OSError, HangarError) as exc:
        raise WorkerGone(str(exc)) from exc
    exchange = Exchange(stream, method)
    await exchange.head()
    return exchange


class Gateway:
    """``/serverless-proxy/{id}/...`` (mounted by prefix) and host-named requests
    (:meth:`by_host`, through :class:`HostRouted`)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._endpoints = services.endpoints
        self._resolver = Resolver(services)
        self._balancer = Balancer(services.endpoints)
        self._pool = Connections()
        self.suffix = "." + services.settings.endpoints.domain.strip(".").lower()
        self._wait = services.settings.endpoints.gateway_wait_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            target = path_target(scope)
        except Refusal as exc:
            await self._refuse(scope, receive, send, exc)
            return
        await self.serve(target, scope, receive, send)

    async def by_host(self, label: str, scope: Scope, receive: Receive, send: Send) -> None:
        await self.serve(host_target(scope, label), scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: Refusal) -> None:
        if scope["type"] == "websocket":
            await _deny_socket(receive, send, exc)
        else:
            await answer_refusal(send, exc)

    async def serve(self, target: Target, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            endpoint, key_header = await self._resolver.resolve(scope, target)
        except Refusal as exc:
            await self._refuse(scope, receive, send, exc)
            return
        note = self._endpoints.note_load if endpoint.spec.scaling.enabled else None
        open_now = stats.opened(endpoint.id)
        if note is not None:
            note(endpoint.id, in_flight=open_now)
        try:
            if scope["type"] == "websocket":
                await self._websocket(endpoint, target, key_header, scope, receive, send)
            else:
                await self._http(endpoint, target, key_header, scope, receive, send, started)
        finally:
            open_now = stats.closed(endpoint.id)
            if note is not None:
                note(endpoint.id, in_flight=open_now)

    async def _workers(self, endpoint: Endpoint) -> None:
        """Make sure the balancer knows RUNNING workers, waiting (and waking a scaled-down
        endpoint) up to ``endpoint_gateway_wait_seconds``. Raises Refusal (503)."""
        if await self._balancer.workers(endpoint.id):
            return
        found = await self._endpoints.wait_running(endpoint.id, self._wait)
        self._balancer.adopt(endpoint.id, found)
        if not found:
            stats.failed(endpoint.id, "no_worker")
            raise Refusal(503, 24000, f"No worker of endpoint {endpoint.id} is running "
                          f"(waited {self._wait:g} s); try again later.")  # fmt: skip

    async def _connect(
        self, endpoint: Endpoint, tried: list[int], *, keep: bool = True,
        again: WorkerTarget | None = None, may_move: bool = True,
    ) -> tuple[WorkerTarget, AppStream, bool]:  # fmt: skip
        """A connection to the least busy worker that has not failed this request (a kept
        one if ``keep``), and whether it was kept. ``again``: a new connection to that
        worker first; if it refuses, another worker only if ``may_move`` (else 502: the
        request may have reached it before it died)."""
        while True:
            if again is None:
                await self._balancer.workers(endpoint.id)  # read again once a second
            worker = again or self._balancer.pick(endpoint.id, tried)
            if worker is None:
                if tried:
                    raise Refusal(502, 10002, f"The workers of endpoint {endpoint.id} did not "
                                  "answer; the request was not served.")  # fmt: skip
                await self._workers(endpoint)
                continue
            if keep and again is None and (kept := self._pool.take(worker.worker_id)):
                return worker, kept, True
            try:
                return worker, await self._endpoints.connect(worker), False
            except Unavailable as exc:
                self._lost(worker, exc.message, tried)
                if again is not None and not may_move:
                    raise Refusal(502, 10002, f"Worker {worker.worker_id} went away during "
                                  "the request.") from None  # fmt: skip
            again = None

    def _lost(self, worker: WorkerTarget, reason: str, tried: list[int]) -> None:
        self._endpoints.worker_failed(worker.endpoint_id, worker.worker_id, reason)
        self._balancer.drop(worker)
        self._pool.forget(worker.worker_id)
        tried.append(worker.worker_id)
        stats.failed(worker.endpoint_id, "worker")
        if len(tried) < MAX_ATTEMPTS:
            stats.retried(worker.endpoint_id)

    async def _http(
        self, endpoint: Endpoint, target: Target, key_header: bytes,
        scope: Scope, receive: Receive, send: Send, started: float,
    ) -> None:  # fmt: skip
        method = scope["method"]
        body, framing = Body(receive), body_framing(scope)
        host = header(scope, b"host") or b"localhost"
        head = request_head(method, target.path, forwarded(scope, key_header), host, framing)
        tried: list[int] = []
        again: WorkerTarget | None = None
        try:
            while True:
                worker, stream, kept = await self._connect(
                    endpoint, tried, again=again, may_move=self._again(method, body, tried)
                )
                with self._balancer.holding(worker):
                    try:
                        exchange = await ask(stream, method, head, body, framing)
                    except ClientGone:
                        await stream.close()
                        raise
                    except WorkerGone as exc:
                        await stream.close()
                        # A kept connection the worker had closed meanwhile: a new one.
                        again = worker if kept and body.replayable else None
                        if again is None:
                            self._lost(worker, str(exc), tried)
                        if again is None and not self._again(method, body, tried):
                            raise Refusal(502, 10002, f"Worker {worker.worker_id} failed "
                                          f"the request: {exc}") from None  # fmt: skip
                        continue
                    await self._finish(worker, endpoint, exchange, stream, scope, receive, send,
                                       started)  # fmt: skip
                    return
        except Refusal as exc:
            stats.answered(endpoint.id, exc.status, time.perf_counter() - started)
            await answer_refusal(send, exc)
        except ClientGone:
            return

    async def _finish(
        self, worker: WorkerTarget, endpoint: Endpoint, exchange: Exchange, stream: AppStream,
        scope: Scope, receive: Receive, send: Send, started: float,
    ) -> None:  # fmt: skip
        """Relay the answer; keep the connection for the next request if it allows."""
        keep = False
        try:
            keep = await self._relay(endpoint, exchange, stream, scope, receive, send, started)
        finally:
            if keep:
                self._pool.give(worker.worker_id, stream)
            else:
                await stream.close()

    @staticmethod
    def _again(method: str, body: Body, tried: list[int]) -> bool:
        """Whether a request a worker failed after it was sent goes to another one."""
        return method in IDEMPOTENT and body.replayable and len(tried) < MAX_ATTEMPTS

    async def _relay(
        self, endpoint: Endpoint, exchange: Exchange, stream: AppStream,
        scope: Scope, receive: Receive, send: Send, started: float,
    ) -> bool:  # fmt: skip
        """Pass the answer on; whether the connection may serve another request."""
        headers = exchange.headers
        await send({"type": "http.response.start", "status": exchange.status, "headers": headers})
        stats.answered(endpoint.id, exchange.status, time.perf_counter() - started)
        if (whole := exchange.whole()) is not None:
            await send({"type": "http.response.body", "body": whole})
            return exchange.reusable
        sized = any(name == b"content-length" for name, _ in headers)
        watcher = None if sized else asyncio.ensure_future(_close_on_disconnect(receive, stream))
        try:
            async for piece in exchange.body():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        except Truncated:  # the caller sees its connection end before the body did
            stats.failed(endpoint.id, "truncated")
            return False
        finally:
            if watcher is not None:
                watcher.cancel()
        await send({"type": "http.response.body", "body": b""})
        return exchange.reusable and (watcher is None or not watcher.done())

    async def _websocket(
        self, endpoint: Endpoint, target: Target, key_header: bytes,
        scope: Scope, receive: Receive, send: Send,
    ) -> None:  # fmt: skip
        tried: list[int] = []
        try:
            worker, stream, _ = await self._connect(endpoint, tried, keep=False)
        except Refusal as exc:
            await _deny_socket(receive, send, exc)
            return
        with self._balancer.holding(worker):
            await relay_websocket(
                stream, target.path, forwarded(scope, key_header), scope, receive, send
            )


async def _close_on_disconnect(receive: Receive, stream: AppStream) -> None:
    """End the worker's stream when the caller goes away (its answer has no end)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            with contextlib.suppress(Exception):
                await stream.close()
            return


async def _deny_socket(receive: Receive, send: Send, exc: Refusal) -> None:
    """Refuse a WebSocket before it opens, with the HTTP answer where the server can."""
    message: Message = await receive()
    if message["type"] != "websocket.connect":
        return
    body = refusal_body(exc)
    try:
        await send({"type": "websocket.http.response.start", "status": exc.status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "websocket.http.response.body", "body": body})
    except RuntimeError:
        await send({"type": "websocket.close", "code": 1008, "reason": exc.message[:120]})


class HostRouted:
    """Requests to ``<12-character label>.<endpoint_domain>`` go to the gateway; every other
    request to ``app``."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app, self.gateway = app, gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            label = host_label(scope, self.gateway.suffix)
            if label is not None:
                await self.gateway.by_host(label, scope, receive, send)
                return
        await self.app(scope, receive, send)
