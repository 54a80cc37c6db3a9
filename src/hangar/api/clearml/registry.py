"""The face's endpoints by name, and the call a handler gets.

An endpoint module (``endpoints/<service>.py``) registers its handlers when
``endpoints/__init__.py`` imports it::

    @endpoint("tasks.create")
    async def create(call: Call) -> dict[str, Any]:
        ...  # the returned dict is the envelope's "data"

``auth=False`` endpoints (``auth.login``, ``server.info``, ``debug.ping``) run without a
verified caller; every other one gets ``call.principal`` from the Bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from hangar.api.clearml.envelope import StreamedList
from hangar.api.clearml.errors import ClearmlError
from hangar.api.clearml.params import batch_items, validate
from hangar.core.principal import Principal
from hangar.core.services import Services

M = TypeVar("M", bound=BaseModel)

NAME = re.compile(r"[A-Za-z_]\w*\.[A-Za-z_]\w*")
"""``<service>.<action>``, both identifiers."""


class Call:
    """One request to an endpoint: who calls, with what, through which version."""

    __slots__ = ("name", "version", "request", "services", "body", "_principal", "_batch")

    def __init__(
        self,
        *,
        name: str,
        version: str,
        request: Request,
        services: Services,
        body: dict[str, Any],
        principal: Principal | None = None,
        batch: Any = None,
    ) -> None:
        self.name = name
        self.version = version
        self.request = request
        self.services = services
        self.body = body
        self._principal = principal
        self._batch = batch

    @property
    def principal(self) -> Principal:
        """The verified caller (401/20 for an ``auth=False`` endpoint that has none)."""
        if self._principal is None:
            raise ClearmlError(401, 20, "Unauthorized (missing credentials)")
        return self._principal

    def parse(self, model: type[M]) -> M:
        """The body as ``model``: 400/11 for missing required fields, 400/12 otherwise."""
        return validate(model, self.body)

    def batch(self) -> list[dict[str, Any]]:
        """The items of a batched request (``application/json-lines``, or a JSON array):
        400/17 when it has none, 400/12 when an item is not an object."""
        return batch_items(self._batch)

    @property
    def worker(self) -> str | None:
        """The caller's worker name (``X-ClearML-Worker``), a default for events' ``worker``."""
        headers = self.request.headers
        return headers.get("x-clearml-worker") or headers.get("x-trains-worker")


Handler = Callable[[Call], Awaitable[dict[str, Any] | StreamedList | Response]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    handler: Handler
    auth: bool


ENDPOINTS: dict[str, Endpoint] = {}
"""Every registered endpoint by name (the route inventory and the fuzzers read it too)."""


def endpoint(name: str, *, auth: bool = True) -> Callable[[Handler], Handler]:
    """Register ``handler`` as endpoint ``name``; a name registered twice is an error."""
    if not NAME.fullmatch(name):
        raise ValueError(f"not an endpoint name: {name!r}")

    def register(handler: Handler) -> Handler:
        if name in ENDPOINTS:
            raise ValueError(f"endpoint {name} is registered twice")
        ENDPOINTS[name] = Endpoint(name, handler, auth)
        return handler

    return register


def find(name: str) -> Endpoint | None:
    return ENDPOINTS.get(name)
