"""``POST /config/get|set|delete`` (``backend.ai admin etcd get/set/delete``) for the keys
Backend.AI keeps its container registries under, which is how an administrator adds one:

    backend.ai admin etcd set config/docker/registry/HOST http://HOST
    backend.ai admin etcd set config/docker/registry/HOST/username USER
    backend.ai admin etcd set config/docker/registry/HOST/password PASSWORD

(or one object ``{"": URL, "username": ..., "password": ...}``). Passwords are stored
sealed with the server key and read back as ``********``. Other keys are refused clearly.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request

from hangar.api.bai.auth import superadmin
from hangar.api.bai.params import Params, read_params
from hangar.api.common.context import services_of
from hangar.api.common.routing import Router
from hangar.core.errors import InvalidRequest, NotFound
from hangar.core.images.registries import Registry, RegistryService

router = Router()
PREFIX = "config/docker/registry"
FIELDS = ("username", "password")


class KeyParams(Params):
    key: str
    prefix: bool = False


class SetParams(Params):
    key: str
    value: Any = None


def _registries(request: Request) -> RegistryService:
    found = services_of(request).images.registries
    if found is None:
        raise InvalidRequest("this server has no container registry settings")
    return found


def _split(key: str) -> tuple[str | None, str | None]:
    """``config/docker/registry[/HOST[/FIELD]]`` -> (HOST, FIELD). Raises InvalidRequest."""
    parts = key.strip("/").split("/")
    if parts[:3] != PREFIX.split("/") or len(parts) > 5:
        raise InvalidRequest(f"Hangar keeps only {PREFIX}/<host>[/username|/password] here")
    host = unquote(parts[3]) if len(parts) > 3 else None
    field = parts[4] if len(parts) > 4 else None
    if field is not None and field not in FIELDS:
        raise InvalidRequest(f"unknown registry setting {field!r} (username, password)")
    return host, field


def _shown(registry: Registry) -> dict[str, str]:
    found = {"": registry.url}
    if registry.username:
        found["username"] = registry.username
    if registry.has_password:
        found["password"] = "********"
    return found


@router.post("/config/get")
async def config_get(request: Request) -> dict[str, Any]:
    superadmin(request)
    params = await read_params(request, KeyParams)
    host, field = _split(params.key)
    registries = await _registries(request).all()
    if host is None:
        return {"result": {r.hostname: _shown(r) for r in registries}}
    found = next((r for r in registries if r.hostname == host), None)
    if found is None:
        return {"result": None}
    shown = _shown(found)
    if field is not None:
        return {"result": shown.get(field)}
    return {"result": shown if params.prefix else found.url}


@router.post("/config/set")
async def config_set(request: Request) -> dict[str, str]:
    caller = superadmin(request)
    params = await read_params(request, SetParams)
    host, field = _split(params.key)
    if host is None:
        raise InvalidRequest(f"name the registry: {PREFIX}/<host>")
    value = params.value
    registries = _registries(request)
    if field is not None:
        await registries.set(caller, host, **{field: "" if value is None else str(value)})
    elif isinstance(value, dict):
        await registries.set(
            caller, host, url=str(value.get("", "")) or None,
            username=_text(value.get("username")), password=_text(value.get("password")),
        )  # fmt: skip
    elif isinstance(value, str):
        await registries.set(caller, host, url=value)
    else:
        raise InvalidRequest("a registry's value is its URL or an object with '' (the URL)")
    return {"result": "ok"}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@router.post("/config/delete")
async def config_delete(request: Request) -> dict[str, str]:
    caller = superadmin(request)
    params = await read_params(request, KeyParams)
    host, field = _split(params.key)
    if host is None:
        raise InvalidRequest(f"name the registry: {PREFIX}/<host>")
    registries = _registries(request)
    if field is not None:
        await registries.set(caller, host, **{field: ""})
        return {"result": "ok"}
    with contextlib.suppress(NotFound):  # etcd deletes what is not there without a word
        await registries.remove(caller, host)
    return {"result": "ok"}
