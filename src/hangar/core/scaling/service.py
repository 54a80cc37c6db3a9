"""Scaling groups: the pools agents belong to, and which domains, groups and keypairs may
use each of them.

Listing and changing scaling groups is for superadmins. Anyone may ask which groups are
*available* to them (:meth:`ScalingGroups.available`): the active ones associated with their
domain, with the group they launch in, or with their keypair.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import AlreadyExists, Conflict, Forbidden, InvalidRequest, NotFound
from hangar.core.identity import repo
from hangar.core.identity.directory import require_superadmin
from hangar.core.identity.queries import Scope, scope_of
from hangar.core.principal import Principal
from hangar.db.engine import DbSession
from hangar.db.tables.agents import AgentRow
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.identity import DomainRow, GroupRow, KeyPairRow, UserRow
from hangar.db.tables.scaling import (
    ScalingGroupDomainRow,
    ScalingGroupGroupRow,
    ScalingGroupKeyPairRow,
    ScalingGroupRow,
)

SCHEDULERS = frozenset({"fifo", "lifo", "drf"})
DRIVERS = frozenset({"static"})


@dataclass(frozen=True, slots=True)
class ScalingGroup:
    name: str
    description: str
    is_active: bool
    created_at: datetime
    wsproxy_addr: str | None
    driver: str
    driver_opts: dict[str, Any]
    scheduler: str
    scheduler_opts: dict[str, Any]


def _view(row: ScalingGroupRow) -> ScalingGroup:
    return ScalingGroup(
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        created_at=row.created_at,
        wsproxy_addr=row.wsproxy_addr,
        driver=row.driver,
        driver_opts=dict(row.driver_opts or {}),
        scheduler=row.scheduler,
        scheduler_opts=dict(row.scheduler_opts or {}),
    )


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
        stmt = select(ScalingGroupRow).order_by(ScalingGroupRow.name)
        if name is not None:
            stmt = stmt.where(ScalingGroupRow.name == name)
        if is_active is not None:
            stmt = stmt.where(ScalingGroupRow.is_active.is_(is_active))
        async with self._sessions() as db:
            return [_view(r) for r in (await db.execute(stmt)).scalars()]

    async def get(self, caller: Principal, name: str | None) -> ScalingGroup | None:
        require_superadmin(caller)
        if name is None:
            return None
        async with self._sessions() as db:
            row = await db.get(ScalingGroupRow, name)
            return _view(row) if row is not None else None

    async def _names(self, stmt: Any, is_active: bool | None) -> list[ScalingGroup]:
        query = select(ScalingGroupRow).where(ScalingGroupRow.name.in_(stmt))
        if is_active is not None:
            query = query.where(ScalingGroupRow.is_active.is_(is_active))
        async with self._sessions() as db:
            rows = (await db.execute(query.order_by(ScalingGroupRow.name))).scalars()
            return [_view(r) for r in rows]

    async def for_domain(
        self, caller: Principal, domain: str, *, is_active: bool | None = None
    ) -> list[ScalingGroup]:
        if scope_of(caller) != Scope.ALL and domain != caller.domain_name:
            raise Forbidden("You may not look into another domain.")
        stmt = select(ScalingGroupDomainRow.scaling_group).where(
            ScalingGroupDomainRow.domain == domain
        )
        return await self._names(stmt, is_active)

    async def for_group(
        self, caller: Principal, group: str, *, is_active: bool | None = None
    ) -> list[ScalingGroup]:
        gid = await self._visible_group(caller, group)
        stmt = select(ScalingGroupGroupRow.scaling_group).where(ScalingGroupGroupRow.group == gid)
        return await self._names(stmt, is_active)

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
        stmt = select(ScalingGroupKeyPairRow.scaling_group).where(
            ScalingGroupKeyPairRow.access_key == access_key
        )
        return await self._names(stmt, is_active)

    async def _visible_group(self, caller: Principal, group: str) -> uuid.UUID:
        async with self._sessions() as db:
            found = None
            try:
                found = await db.get(GroupRow, uuid.UUID(str(group)))
            except ValueError:
                stmt = select(GroupRow).where(
                    GroupRow.domain_name == caller.domain_name, GroupRow.name == group
                )
                found = (await db.execute(stmt)).scalar_one_or_none()
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
        parts: list[Any] = [
            select(ScalingGroupDomainRow.scaling_group).where(
                ScalingGroupDomainRow.domain == caller.domain_name
            ),
            select(ScalingGroupKeyPairRow.scaling_group).where(
                ScalingGroupKeyPairRow.access_key == caller.access_key
            ),
        ]
        if group:
            gid = await self._visible_group(caller, group)
            parts.append(
                select(ScalingGroupGroupRow.scaling_group).where(ScalingGroupGroupRow.group == gid)
            )
        stmt = (
            select(ScalingGroupRow.name)
            .where(ScalingGroupRow.name.in_(union(*parts)), ScalingGroupRow.is_active.is_(True))
            .order_by(ScalingGroupRow.name)
        )
        async with self._sessions() as db:
            return list((await db.execute(stmt)).scalars())

    # Changing ----------------------------------------------------------------------------

    async def create(self, caller: Principal, name: str, fields: dict[str, Any]) -> ScalingGroup:
        require_superadmin(caller)
        if not name or len(name) > 64:
            raise InvalidRequest("name must be 1 to 64 characters")
        _check_fields(fields)
        row = ScalingGroupRow(
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
            if await db.get(ScalingGroupRow, name) is not None:
                raise AlreadyExists("A scaling group with this name already exists.")
            db.add(row)
        return _view(row)

    async def modify(self, caller: Principal, name: str, fields: dict[str, Any]) -> None:
        require_superadmin(caller)
        _check_fields(fields)
        async with self._sessions() as db, db.begin():
            row = await db.get(ScalingGroupRow, name)
            if row is None:
                raise NotFound("scaling group")
            for key, value in fields.items():
                if value is not None:
                    setattr(row, key, value.lower() if key == "scheduler" else value)

    async def delete(self, caller: Principal, name: str) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            row = await db.get(ScalingGroupRow, name)
            if row is None:
                raise NotFound("scaling group")
            for table, column in (
                (AgentRow, AgentRow.scaling_group),
                (SessionRow, SessionRow.scaling_group),
            ):
                count = select(func.count()).select_from(table).where(column == name)
                if int((await db.execute(count)).scalar_one()):
                    raise Conflict("Agents or sessions still belong to this scaling group.")
            await db.delete(row)
            try:
                await db.flush()
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
            if await db.get(ScalingGroupRow, scaling_group) is None:
                raise NotFound("scaling group")
            link: Any
            if domain is not None:
                if await db.get(DomainRow, domain) is None:
                    raise NotFound("domain")
                link = ScalingGroupDomainRow(scaling_group=scaling_group, domain=domain)
            elif group is not None:
                gid = _as_uuid(group)
                if await db.get(GroupRow, gid) is None:
                    raise NotFound("group")
                link = ScalingGroupGroupRow(scaling_group=scaling_group, group=gid)
            else:
                assert access_key is not None
                if await db.get(KeyPairRow, access_key) is None:
                    raise NotFound("keypair")
                link = ScalingGroupKeyPairRow(scaling_group=scaling_group, access_key=access_key)
            existing = await db.get(type(link), _link_key(link))
            if remove and existing is not None:
                await db.delete(existing)
            elif not remove and existing is None:
                db.add(link)

    async def disassociate_all(
        self, caller: Principal, *, domain: str | None = None, group: str | None = None
    ) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if domain is not None:
                if await db.get(DomainRow, domain) is None:
                    raise NotFound("domain")
                await db.execute(
                    delete(ScalingGroupDomainRow).where(ScalingGroupDomainRow.domain == domain)
                )
            else:
                gid = _as_uuid(group or "")
                if await db.get(GroupRow, gid) is None:
                    raise NotFound("group")
                await db.execute(
                    delete(ScalingGroupGroupRow).where(ScalingGroupGroupRow.group == gid)
                )


def _as_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidRequest(f"not a group id: {value}") from exc


def _link_key(link: Any) -> tuple[Any, ...]:
    if isinstance(link, ScalingGroupDomainRow):
        return (link.scaling_group, link.domain)
    if isinstance(link, ScalingGroupGroupRow):
        return (link.scaling_group, link.group)
    return (link.scaling_group, link.access_key)


__all__ = ["ScalingGroup", "ScalingGroups", "UserRow"]
