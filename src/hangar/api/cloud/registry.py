"""The face's routes and the call each handler gets.

A route module registers its handlers when ``api/cloud/routes/__init__.py`` imports it::

    @route("GET", "/v2/vms/types")
    async def vm_types(call: Call) -> Any:
        ...  # the returned value becomes the envelope's "data"

Every route gets ``call.principal`` from the API key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from starlette.requests import Request

from hangar.api.cloud.auth import authenticate
from hangar.api.cloud.envelope import ok
from hangar.api.common.params import has_body, parse_body, read_body, validate
from hangar.api.common.responses import FaceJSONResponse
from hangar.core.errors import InvalidRequest
from hangar.core.principal import Principal
from hangar.core.services import Services

M = TypeVar("M", bound=BaseModel)
MAX_ID = 2**31 - 1  # the largest value of the objects' INTEGER id columns


class WireModel(BaseModel):
    """A request body: camelCase on the wire, unknown keys ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


@dataclass(frozen=True, slots=True)
class Call:
    request: Request
    services: Services
    principal: Principal

    @property
    def query(self) -> dict[str, str]:
        return dict(self.request.query_params)

    def path_id(self, name: str = "id") -> int:
        """A numeric path parameter (any digit string below 2^63); 10001 otherwise.

        The objects' id columns are INTEGER: an id past 2^31 - 1 names nothing, so it reads
        as 0 (which names nothing either) and each route answers its own not-found code,
        where PostgreSQL would refuse the value itself."""
        raw = str(self.request.path_params.get(name, ""))
        if not raw.isdigit() or len(raw) > 18:
            raise InvalidRequest(f"{name}: must be a positive integer", data={name: "invalid"})
        value = int(raw)
        return value if value <= MAX_ID else 0

    async def body(self, model: type[M]) -> M:
        """The JSON body as ``model``; 10001 naming the field when it does not fit."""
        data: Any = {}
        if has_body(self.request):
            raw = await read_body(self.request)
            data = parse_body(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise InvalidRequest("body: expected a JSON object", data={"body": "not an object"})
        return validate(model, data)


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler


ROUTES: list[Route] = []
"""Every route in declaration order (the app, the route inventory and the fuzzers read it)."""


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if any(r.method == method and r.path == path for r in ROUTES):
            raise ValueError(f"{method} {path} is registered twice")
        ROUTES.append(Route(method, path, handler))
        return handler

    return register


def serve(found: Route) -> Callable[[Request], Awaitable[FaceJSONResponse]]:
    """The Starlette handler of a route: the caller, the handler, its data in the envelope."""

    async def handle(request: Request) -> FaceJSONResponse:
        services: Services = request.app.state.services
        principal = await authenticate(services, request)
        return ok(await found.handler(Call(request, services, principal)))

    handle.__name__ = found.handler.__name__
    return handle
