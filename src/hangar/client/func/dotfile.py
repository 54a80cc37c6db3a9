"""Dotfile: files written into the home directory of every new session."""

from __future__ import annotations

from typing import Any

from hangar.client.func.base import BaseFunction


def _scope(domain: str | None, group: str | None) -> str:
    if group:
        return "/group-config/dotfiles"
    if domain:
        return "/domain-config/dotfiles"
    return "/user-config/dotfiles"


def _extra(owner_access_key: str | None, domain: str | None, group: str | None) -> dict[str, Any]:
    values = {"owner_access_key": owner_access_key, "domain": domain, "group": group}
    return {k: v for k, v in values.items() if v is not None}


class Dotfile(BaseFunction):
    """A dotfile of the user (or of a group or domain when those are given)."""

    def __init__(
        self,
        path: str,
        owner_access_key: str | None = None,
        group: str | None = None,
        domain: str | None = None,
    ) -> None:
        self.path = path
        self.owner_access_key = owner_access_key
        self.group = group
        self.domain = domain

    @classmethod
    async def create(
        cls,
        data: str,
        path: str,
        permission: str,
        owner_access_key: str | None = None,
        domain: str | None = None,
        group: str | None = None,
    ) -> Dotfile:
        body = {"data": data, "path": path, "permission": permission}
        body.update(_extra(owner_access_key, domain, group))
        await cls._call("POST", _scope(domain, group), json=body)
        return cls(path, owner_access_key=owner_access_key, group=group, domain=domain)

    @classmethod
    async def list_dotfiles(
        cls,
        owner_access_key: str | None = None,
        domain: str | None = None,
        group: str | None = None,
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await cls._call(
            "GET", _scope(domain, group), params=_extra(owner_access_key, domain, group)
        )
        return result

    def _where(self) -> dict[str, Any]:
        return _extra(self.owner_access_key, self.domain, self.group)

    async def get(self) -> dict[str, Any]:
        """``{"path", "perm", "data"}``."""
        params = {"path": self.path, **self._where()}
        result: dict[str, Any] = await self._call(
            "GET", _scope(self.domain, self.group), params=params
        )
        return result

    async def update(self, data: str, permission: str) -> Any:
        body = {"data": data, "path": self.path, "permission": permission, **self._where()}
        return await self._call("PATCH", _scope(self.domain, self.group), json=body)

    async def delete(self) -> Any:
        params = {"path": self.path, **self._where()}
        return await self._call("DELETE", _scope(self.domain, self.group), params=params)
