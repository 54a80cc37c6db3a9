"""The face's ASGI app: ``[/v<major>.<minor>]/<service>.<action>`` with GET, POST or PUT.

Per request: the envelope, the endpoint by name (404 envelope when unknown), the caller
(Bearer token, or Basic credentials), the body (JSON of any method, query parameters merged,
json-lines batches), the handler, and its data or error in the envelope.
"""

from __future__ import annotations

import re

from starlette.datastructures import State
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hangar.api.clearml import endpoints  # noqa: F401 - registers the endpoints
from hangar.api.clearml.auth import authenticate
from hangar.api.clearml.compress import MIN_BYTES, accepts_gzip, gzipped
from hangar.api.clearml.envelope import API_VERSION, Envelope, StreamedList
from hangar.api.clearml.errors import ClearmlError, no_endpoint
from hangar.api.clearml.params import MAX_BODY_BYTES, body_of
from hangar.api.clearml.registry import NAME, Call, find
from hangar.api.common.context import new_request_id
from hangar.api.common.errors import error_response
from hangar.api.common.params import read_body
from hangar.api.common.responses import FaceJSONResponse
from hangar.core.services import Services
from hangar.logs import request_id_var

SEGMENT_PATTERNS = (r"[A-Za-z_]\w*\.[A-Za-z_]\w*", r"v\d+\.[^/]*")
"""First path segments the dispatcher sends here: an endpoint name, or a version."""

VERSION = re.compile(r"v(\d+)\.(\d+)")
METHODS = frozenset({"GET", "POST", "PUT"})


def _trx(request: Request) -> str | None:
    value = request.headers.get("x-clearml-trx") or request.headers.get("x-trains-trx")
    return value if value and len(value) <= 64 and value.isprintable() else None


def _resolve(path: str, envelope: Envelope) -> str:
    """The endpoint name of ``path``, recording it and the requested version."""
    segments = path.strip("/").split("/")
    envelope.name = segments[-1]
    if len(segments) == 2 and segments[0].startswith("v"):
        version = VERSION.fullmatch(segments[0])
        if version is None:
            raise ClearmlError(400, 2, f"Invalid version in request path: {segments[0]}")
        envelope.requested_version = f"{int(version[1])}.{int(version[2])}"
    elif len(segments) != 1:
        envelope.name = path
        raise no_endpoint(path, envelope.requested_version)
    return envelope.name


class ClearmlApp:
    """The ClearML face; handlers are found by name in the registry."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.state = State()
        self.state.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        scope["app"] = self
        request = Request(scope, receive)
        gzip = accepts_gzip(request.headers.get("accept-encoding", ""))
        envelope = Envelope(request_id_var.get() or new_request_id(), _trx(request), gzip=gzip)
        try:
            response = await self._serve(request, envelope)
        except ClientDisconnect:
            return  # nobody is left to answer
        except Exception as exc:
            response = await error_response(envelope, request, exc)
            exc.__traceback__ = None
        if gzip and isinstance(response, FaceJSONResponse) and len(response.body) >= MIN_BYTES:
            _compress(response)
        await response(scope, receive, send)

    async def _serve(self, request: Request, envelope: Envelope) -> Response:
        name = _resolve(request.scope["path"], envelope)
        found = find(name) if NAME.fullmatch(name) else None
        if found is None:
            raise no_endpoint(name, envelope.requested_version)
        if request.method not in METHODS:
            return envelope.method_not_allowed()
        principal = None
        if found.auth:
            principal = await authenticate(self.services, request.headers.get("authorization"))
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            raise ClearmlError(415, 0, "Compressed request bodies are not accepted")
        raw = await read_body(request, MAX_BODY_BYTES)
        body, batch = body_of(
            raw, request.headers.get("content-type", ""), request.scope.get("query_string", b"")
        )
        call = Call(
            name=name,
            version=envelope.requested_version or API_VERSION,
            request=request,
            services=self.services,
            body=body,
            principal=principal,
            batch=batch,
        )
        data = await found.handler(call)
        if isinstance(data, Response):  # a file, not an envelope
            return data
        if isinstance(data, StreamedList):
            return envelope.streamed(data)
        return envelope.ok(data if data is not None else {})


def _compress(response: FaceJSONResponse) -> None:
    response.body = gzipped(bytes(response.body))
    response.headers["content-length"] = str(len(response.body))
    response.headers["content-encoding"] = "gzip"
    response.headers["vary"] = "Accept-Encoding"


def create_clearml_app(services: Services) -> ClearmlApp:
    return ClearmlApp(services)
