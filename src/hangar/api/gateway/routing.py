"""Which endpoint a request is for, and whether its caller may use it: the Host header
``<label>.<endpoint_domain>`` or the path ``/serverless-proxy/{id}/...``; the owner's API key
as ``Authorization: Bearer <key>`` (or ``X-Api-Key``). Keys and endpoints are read again
after ``auth_cache_seconds`` (a revoked key, a stopped endpoint take effect within it)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.types import Scope

from hangar.core.endpoints.models import Endpoint, EndpointStatus, ServiceMode
from hangar.core.errors import AuthFailed
from hangar.core.principal import Principal
from hangar.core.services import Services

PREFIX = "/serverless-proxy"
LABEL = re.compile(r"[a-z0-9]{12}")
MAX_CACHED = 4096


class Refusal(Exception):
    """An answer the gateway gives itself: HTTP ``status``, the face's ``code``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found(what: str) -> Refusal:
    return Refusal(404, 14000, f"Endpoint not found: {what}")


@dataclass(frozen=True, slots=True)
class Target:
    """The endpoint a request names and the path its worker sees."""

    by_id: int | None
    label: str | None
    path: bytes  # with the query string


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def host_label(scope: Scope, suffix: str) -> str | None:
    """The endpoint label of a Host ``<label>.<suffix>[:port]``; None for any other host."""
    raw = header(scope, b"host")
    if raw is None:
        return None
    host = raw.decode("latin-1").lower().rsplit(":", 1)[0] if b"]" not in raw else ""
    if not host.endswith(suffix):
        return None
    label = host[: -len(suffix)]
    return label if LABEL.fullmatch(label) else None


def _path(scope: Scope) -> bytes:
    return bytes(scope.get("raw_path") or scope["path"].encode("utf-8"))


def _with_query(scope: Scope, path: bytes) -> bytes:
    query = scope.get("query_string") or b""
    return path + (b"?" + bytes(query) if query else b"")


def host_target(scope: Scope, label: str) -> Target:
    return Target(None, label, _with_query(scope, _path(scope)))


def path_target(scope: Scope) -> Target:
    """``/serverless-proxy/{id}[/rest]``: the endpoint id and ``/rest``."""
    path = _path(scope)
    start = PREFIX.encode() + b"/"
    raw_id, _, tail = path[len(start) :].partition(b"/")
    if not path.startswith(start) or not raw_id.isdigit() or len(raw_id) > 18:
        raise not_found("the path names no endpoint id (/serverless-proxy/{id}/...)")
    return Target(int(raw_id), None, _with_query(scope, b"/" + tail))


def presented_key(scope: Scope) -> tuple[str, bytes] | None:
    """The API key and the header that carried it."""
    value = header(scope, b"authorization")
    if value is not None:
        scheme, _, key = value.decode("latin-1").strip().partition(" ")
        if scheme.lower() == "bearer" and key.strip():
            return key.strip(), b"authorization"
    value = header(scope, b"x-api-key")
    if value is not None and value.strip():
        return value.decode("latin-1").strip(), b"x-api-key"
    return None


K = TypeVar("K")
V = TypeVar("V")


class _Cache(Generic[K, V]):
    """Values read at most once per ``ttl`` seconds; concurrent misses share one read."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._values: dict[K, tuple[V, float]] = {}
        self._reading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        found = self._values.get(key)
        if found is not None and time.monotonic() - found[1] < self._ttl:
            return found[0]
        pending = self._reading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._reading[key] = future
        try:
            value = await read()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            self._values.pop(key, None)
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._reading[key]
        future.set_result(value)
        if len(self._values) >= MAX_CACHED:
            self._values.clear()
        self._values[key] = (value, time.monotonic())
        return value


class Resolver:
    def __init__(self, services: Services) -> None:
        self._services = services
        ttl = services.settings.auth.cache_seconds
        self._keys: _Cache[str, Principal] = _Cache(ttl)
        self._endpoints: _Cache[object, Endpoint | None] = _Cache(ttl)

    async def principal(self, key: str) -> Principal:
        try:
            return await self._keys.get(key, lambda: self._services.apikeys.principal_for(key))
        except AuthFailed:
            raise Refusal(401, 40101, "Invalid API key.") from None

    async def endpoint(self, target: Target) -> Endpoint | None:
        endpoints = self._services.endpoints
        if target.by_id is not None:
            by_id = target.by_id
            return await self._endpoints.get(by_id, lambda: endpoints.find(by_id))
        label = target.label or ""
        return await self._endpoints.get(("label", label), lambda: endpoints.by_domain(label))

    async def resolve(self, scope: Scope, target: Target) -> tuple[Endpoint, bytes]:
        """The endpoint the caller may send to, and the header its key came in. Raises
        Refusal: 401 no or a bad key; 404 unknown, another user's, not ALB; 503 stopped."""
        presented = presented_key(scope)
        if presented is None:
            raise Refusal(401, 40101, "Missing API key: send Authorization: Bearer <API key>.")
        principal = await self.principal(presented[0])
        endpoint = await self.endpoint(target)
        what = str(target.by_id) if target.by_id is not None else f"{target.label}"
        if endpoint is None or endpoint.owner_uuid != principal.user_uuid:
            raise not_found(what)
        if endpoint.mode is not ServiceMode.ALB:
            raise Refusal(404, 14000, f"Endpoint {endpoint.id} is a {endpoint.mode.value} "
                          "endpoint; only ALB endpoints serve the gateway.")  # fmt: skip
        if endpoint.status in (EndpointStatus.STOPPED, EndpointStatus.STOPPING):
            raise Refusal(503, 24000, f"Endpoint {endpoint.id} is {endpoint.status.value}: "
                          "start it to serve requests.")  # fmt: skip
        if endpoint.status is EndpointStatus.FAILED:
            raise Refusal(503, 24000, f"Endpoint {endpoint.id} FAILED: "
                          f"{endpoint.status_info or 'its workers kept failing'}.")  # fmt: skip
        if endpoint.spec.port is None:
            raise Refusal(503, 24000, f"Endpoint {endpoint.id} exposes no port.")
        return endpoint, presented[1]
