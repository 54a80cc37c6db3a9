"""Dotfiles written into /home/work of every new session (§3.11), in three scopes with the
same routes: ``/user-config/dotfiles`` (a keypair), ``/group-config/dotfiles`` (``group``,
an id or a name within ``domain``) and ``/domain-config/dotfiles`` (``domain``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request

from hangar.api.bai.auth import user
from hangar.api.bai.owners import acting_as
from hangar.api.bai.params import Params, raw_params, read_params
from hangar.api.common.context import services_of
from hangar.api.common.params import validate
from hangar.api.common.routing import Router
from hangar.core.errors import InvalidRequest
from hangar.core.storage.dotfiles import Scope

router = Router()

USER_PATH = "/user-config/dotfiles"
GROUP_PATH = "/group-config/dotfiles"
DOMAIN_PATH = "/domain-config/dotfiles"


class ScopeParams(Params):
    owner_access_key: str | None = None
    group: str | None = None
    domain: str | None = None


class DotfileParams(ScopeParams):
    path: str
    data: str = ""
    permission: str = "755"


class PathParams(ScopeParams):
    path: str | None = None


ScopeOf = Callable[[Request, ScopeParams, bool], Awaitable[Scope]]


async def _user_scope(request: Request, params: ScopeParams, write: bool) -> Scope:
    owner = await acting_as(request, params.owner_access_key)
    return Scope.of_user(owner)


async def _group_scope(request: Request, params: ScopeParams, write: bool) -> Scope:
    dotfiles = services_of(request).storage.dotfiles
    return await dotfiles.group_scope(user(request), params.group, params.domain, write=write)


async def _domain_scope(request: Request, params: ScopeParams, write: bool) -> Scope:
    dotfiles = services_of(request).storage.dotfiles
    return await dotfiles.domain_scope(user(request), params.domain, write=write)


def _routes(path: str, scope_of: ScopeOf) -> None:
    async def create(request: Request) -> Any:
        params = await read_params(request, DotfileParams)
        scope = await scope_of(request, params, True)
        await services_of(request).storage.dotfiles.create(
            scope, params.path, params.permission, params.data
        )
        return {}

    async def get(request: Request) -> Any:
        data = await raw_params(request)
        data.pop("onwer_access_key", None)  # the SDK's misspelling
        params = validate(PathParams, data)
        scope = await scope_of(request, params, False)
        dotfiles = services_of(request).storage.dotfiles
        if params.path:
            item = await dotfiles.get(scope, params.path)
            return {"path": item.path, "perm": item.permission, "data": item.data}
        return [
            {"path": d.path, "permission": d.permission, "data": d.data}
            for d in await dotfiles.list_all(scope)
        ]

    async def update(request: Request) -> Any:
        params = await read_params(request, DotfileParams)
        scope = await scope_of(request, params, True)
        await services_of(request).storage.dotfiles.update(
            scope, params.path, params.permission, params.data
        )
        return {}

    async def delete(request: Request) -> Any:
        params = await read_params(request, PathParams)
        if not params.path:
            raise InvalidRequest("path: the dotfile's path is required")
        scope = await scope_of(request, params, True)
        await services_of(request).storage.dotfiles.delete(scope, params.path)
        return {"success": True}

    router.post(path)(create)
    router.get(path)(get)
    router.patch(path)(update)
    router.delete(path)(delete)


_routes(USER_PATH, _user_scope)
_routes(GROUP_PATH, _group_scope)
_routes(DOMAIN_PATH, _domain_scope)
