"""A pod's exposed HTTP ports, reached at ``/pod-proxy/{pod id}/{port}/...`` (the pod's
``expose[].ingressUrl``) with the owner's API key (``X-Api-Key`` or ``Authorization:
Bearer``, never passed on). Each request is one HTTP/1.0 exchange over a new connection to
the port inside the pod's network, through its agent (the app proxy every face uses); the
answer streams back as it comes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hangar.api.cloud.auth import authenticate
from hangar.api.cloud.envelope import CloudProblems
from hangar.api.cloud.podwire import PROXY_PREFIX
from hangar.api.common.routing import FaceApp, FaceRoute
from hangar.core.agents.client import AppStream
from hangar.core.compute.ports import PortProtocol
from hangar.core.errors import InvalidRequest, NotFound, Unavailable
from hangar.core.services import Services

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
DROPPED = frozenset({
    "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
    "te", "trailer", "x-api-key", "authorization", "content-length",
})  # fmt: skip


def _target(request: Request) -> str:
    path = "/" + str(request.path_params.get("path", ""))
    query = request.url.query
    return path + (f"?{query}" if query else "")


async def _request_head(request: Request, port: int, body: bytes) -> bytes:
    lines = [f"{request.method} {_target(request)} HTTP/1.0", f"Host: 127.0.0.1:{port}"]
    for name, value in request.headers.items():
        if name.lower() not in DROPPED:
            lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(stream: AppStream) -> tuple[int, list[tuple[str, str]], bytes]:
    """The answer's status, headers and the body bytes read with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.read()
        if not chunk or len(data) > MAX_HEAD:
            raise Unavailable("The pod's port closed the connection without an answer.")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise Unavailable("The pod's port did not answer HTTP.")
    headers = []
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() not in DROPPED:
            headers.append((name.strip(), value.strip()))
    return int(parts[1]), headers, rest


async def _body(stream: AppStream, first: bytes) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        while chunk := await stream.read():
            yield chunk
    finally:
        await stream.close()


async def proxy(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = await authenticate(services, request)
    raw_id, raw_port = str(request.path_params["id"]), str(request.path_params["port"])
    if not raw_id.isdigit() or len(raw_id) > 18 or not raw_port.isdigit() or len(raw_port) > 5:
        raise InvalidRequest("pod id and port must be numbers")
    pod = await services.pods.get(principal, int(raw_id))
    port = int(raw_port)
    if not any(p.port == port and p.protocol is PortProtocol.HTTP for p in pod.spec.ports):
        raise NotFound("service", f"Pod {pod.id} exposes no HTTP port {port}.")
    if pod.session_id is None:
        raise NotFound("service", f"Pod {pod.id} is not running.")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidRequest("request body too large")
    stream = await services.apps.open(principal, str(pod.session_id), app=str(port))
    try:
        await stream.write(await _request_head(request, port, body) + body)
        status, headers, first = await _read_head(stream)
    except BaseException:
        await stream.close()
        raise
    response = StreamingResponse(_body(stream, first), status_code=status)
    for name, value in headers:
        response.headers.append(name, value)
    return response


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_pod_proxy_app(services: Services) -> FaceApp:
    routes = [
        FaceRoute(PROXY_PREFIX + "/{id}/{port}/{path:path}", proxy, METHODS, 200),
        FaceRoute(PROXY_PREFIX + "/{id}/{port}", proxy, METHODS, 200),
    ]
    return FaceApp(routes, services, CloudProblems())
