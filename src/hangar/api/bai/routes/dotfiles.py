"""``/user-config/dotfiles``: files written into /home/work of every new session (§3.11)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from hangar.api.bai.auth import services_of, user
from hangar.api.bai.params import Params, raw_params, read_params, validate
from hangar.api.bai.routing import Router
from hangar.core.errors import InvalidRequest
from hangar.core.identity.models import Caller

router = Router(prefix="/user-config")


class DotfileParams(Params):
    path: str
    data: str = ""
    permission: str = "755"
    owner_access_key: str | None = None


class PathParams(Params):
    path: str | None = None
    owner_access_key: str | None = None


async def _owner(request: Request, owner_access_key: str | None) -> Caller:
    return await services_of(request).compute.owner_of(user(request), owner_access_key)


@router.post("/dotfiles")
async def create(request: Request) -> Any:
    params = await read_params(request, DotfileParams)
    owner = await _owner(request, params.owner_access_key)
    await services_of(request).storage.dotfiles.create(
        owner, params.path, params.permission, params.data
    )
    return {}


@router.get("/dotfiles")
async def get(request: Request) -> Any:
    data = await raw_params(request)
    data.pop("onwer_access_key", None)  # the SDK's misspelling
    params = validate(PathParams, data)
    owner = await _owner(request, params.owner_access_key)
    dotfiles = services_of(request).storage.dotfiles
    if params.path:
        item = await dotfiles.get(owner, params.path)
        return {"path": item.path, "perm": item.permission, "data": item.data}
    return [
        {"path": d.path, "permission": d.permission, "data": d.data}
        for d in await dotfiles.list_all(owner)
    ]


@router.patch("/dotfiles")
async def update(request: Request) -> Any:
    params = await read_params(request, DotfileParams)
    owner = await _owner(request, params.owner_access_key)
    await services_of(request).storage.dotfiles.update(
        owner, params.path, params.permission, params.data
    )
    return {}


@router.delete("/dotfiles")
async def delete(request: Request) -> Any:
    params = await read_params(request, PathParams)
    if not params.path:
        raise InvalidRequest("path: the dotfile's path is required")
    owner = await _owner(request, params.owner_access_key)
    await services_of(request).storage.dotfiles.delete(owner, params.path)
    return {"success": True}
