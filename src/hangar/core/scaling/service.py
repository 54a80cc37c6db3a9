"""Scaling groups: the pools agents belong to, and which domains, groups and keypairs may
use each of them.

Listing and changing scaling groups is for superadmins. Anyone may ask which groups are
*available* to them (:meth:`ScalingGroups.available`): the active ones associated with their
domain, with the group they launch in, or with their keypair.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import AlreadyExists, Conflict, Forbidden, InvalidRequest, NotFound
from hangar.core.identity import repo
from hangar.core.identity.directory import require_superadmin
from hangar.core.identity.queries import Scope, scope_of
from hangar.core.principal import Principal
from hangar.core.scaling import repo as groups
from hangar.core.scaling.repo import ScalingGroup
from hangar.db.engine import DbSession

SCHEDULERS = frozenset({"fifo", "lifo", "drf"})
DRIVERS = frozenset({"static"})


def _check_fields(fields: dict[str, Any]) -> None:
    scheduler = fields.get("scheduler")
    if scheduler is not None and scheduler.lower() not in SCHEDULERS:
        raise InvalidRequest(f"scheduler must be one of {', '.join(sorted(SCHEDULERS))}")
    driver = fields.get("driver")
    if driver is not None and driver not in DRIVERS:
        raise InvalidRequest(f"driver must be one of {', '.join(sorted(DRIVERS))}")
    for key in ("driver_opts", "scheduler_opts"):
        if fields.get(key) is not None and not isinstance(fields[key], dict):
            raise InvalidRequest(f"{key} must be a JSON object")


class ScalingGroups:
    def __init__(self, sessions: async_sessionmaker[DbSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    # Reading -----------------------------------------------------------------------------

    async def find(
        self, caller: Principal, *, name: str | None = None, is_active: bool | None = None
    ) -> list[ScalingGroup]:
        require_superadmin(caller)
        async with self._sessions() as db:
            return await groups.find(db, name=name, is_active=is_active)

    async def get(self, caller: Principal, name: str | None) -> ScalingGroup | None:
        require_superadmin(caller)
        if name is None:
            return None
        async with self._sessions() as db:
            return await groups.get(db, name)

    async def for_domain(
        self, caller: Principal, domain: str, *, is_active: bool | None = None
    ) -> list[ScalingGroup]:
        if scope_of(caller) != Scope.ALL and domain != caller.domain_name:
            raise Forbidden("You may not look into another domain.")
        async with self._sessions() as db:
            return await groups.linked(db, domain=domain, is_active=is_active)

    async def for_group(
        self, caller: Principal, group: str, *, is_active: bool | None = None
    ) -> list[ScalingGroup]:
        gid = await self._visible_group(caller, group)
        async with self._sessions() as db:
            return await groups.linked(db, group=gid, is_active=is_active)

    async def for_keypair(
        self, caller: Principal, access_key: str, *, is_active: bool | None = None
    ) -> list[ScalingGroup]:
        async with self._sessions() as db:
            found = await repo.find_keypair_with_user(db, access_key)
        scope = scope_of(caller)
        if found is None:
            raise NotFound("keypair")
        owner = found[1]
        if (scope == Scope.OWN and access_key != caller.access_key) or (
            scope == Scope.DOMAIN and owner.domain_name != caller.domain_name
        ):
            raise Forbidden("You may not look at this keypair.")
        async with self._sessions() as db:
            return await groups.linked(db, access_key=access_key, is_active=is_active)

    async def _visible_group(self, caller: Principal, group: str) -> uuid.UUID:
        async with self._sessions() as db:
            try:
                found = await repo.find_group_by_id(db, uuid.UUID(str(group)))
            except ValueError:
                found = await repo.find_group(db, caller.domain_name, group)
            if found is None:
                raise NotFound("group")
            scope = scope_of(caller)
            if scope == Scope.DOMAIN and found.domain_name != caller.domain_name:
                raise Forbidden("You may not look into another domain.")
            if scope == Scope.OWN and not await repo.is_group_member(
                db, caller.user_uuid, found.domain_name, str(found.id)
            ):
                raise Forbidden("You are not a member of this group.")
            return found.id

    async def available(self, caller: Principal, group: str | None) -> list[str]:
        """Active scaling groups the caller may launch in for ``group`` (id or name)."""
        gid = await self._visible_group(caller, group) if group else None
        async with self._sessions() as db:
            return await groups.available(db, caller.domain_name, caller.access_key, gid)

    # Changing ----------------------------------------------------------------------------

    async def create(self, caller: Principal, name: str, fields: dict[str, Any]) -> ScalingGroup:
        require_superadmin(caller)
        if not name or len(name) > 64:
            raise InvalidRequest("name must be 1 to 64 characters")
        _check_fields(fields)
        new = ScalingGroup(
            name=name,
            description=fields.get("description") or "",
            is_active=fields.get("is_active") is not False,
            created_at=self._clock.now(),
            driver=fields.get("driver") or "static",
            driver_opts=dict(fields.get("driver_opts") or {}),
            scheduler=(fields.get("scheduler") or "fifo").lower(),
            scheduler_opts=dict(fields.get("scheduler_opts") or {}),
            wsproxy_addr=fields.get("wsproxy_addr"),
        )
        async with self._sessions() as db, db.begin():
            if await groups.get(db, name) is not None:
                raise AlreadyExists("A scaling group with this name already exists.")
            groups.add(db, new)
        return new

    async def modify(self, caller: Principal, name: str, fields: dict[str, Any]) -> None:
        require_superadmin(caller)
        _check_fields(fields)
        values = {
            key: value.lower() if key == "scheduler" else value
            for key, value in fields.items()
            if value is not None
        }
        async with self._sessions() as db, db.begin():
            if await groups.get(db, name) is None:
                raise NotFound("scaling group")
            if values:
                await groups.change(db, name, values)

    async def delete(self, caller: Principal, name: str) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if await groups.get(db, name) is None:
                raise NotFound("scaling group")
            if await groups.in_use(db, name):
                raise Conflict("Agents or sessions still belong to this scaling group.")
            try:
                await groups.remove(db, name)
            except IntegrityError as exc:
                raise Conflict("The scaling group is still in use.") from exc

    async def associate(
        self,
        caller: Principal,
        scaling_group: str,
        *,
        domain: str | None = None,
        group: str | None = None,
        access_key: str | None = None,
        remove: bool = False,
    ) -> None:
        """Link (or unlink) a scaling group with one domain, group or keypair (idempotent)."""
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if await groups.get(db, scaling_group) is None:
                raise NotFound("scaling group")
            if domain is not None:
                if not await groups.domain_exists(db, domain):
                    raise NotFound("domain")
                await groups.link(db, scaling_group, domain=domain, remove=remove)
            elif group is not None:
                gid = _as_uuid(group)
                if not await groups.group_exists(db, gid):
                    raise NotFound("group")
                await groups.link(db, scaling_group, group=gid, remove=remove)
            else:
                assert access_key is not None
                if not await groups.keypair_exists(db, access_key):
                    raise NotFound("keypair")
                await groups.link(db, scaling_group, access_key=access_key, remove=remove)

    async def disassociate_all(
        self, caller: Principal, *, domain: str | None = None, group: str | None = None
    ) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if domain is not None:
                if not await groups.domain_exists(db, domain):
                    raise NotFound("domain")
                await groups.unlink_all(db, domain=domain)
            else:
                gid = _as_uuid(group or "")
                if not await groups.group_exists(db, gid):
                    raise NotFound("group")
                await groups.unlink_all(db, group=gid)


def _as_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidRequest(f"not a group id: {value}") from exc


__all__ = ["ScalingGroup", "ScalingGroups"]
