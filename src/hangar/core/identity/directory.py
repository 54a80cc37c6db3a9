"""Read side of the directory: domains, groups (projects) and users, scoped to the caller.

Visibility follows :func:`~hangar.core.identity.queries.scope_of`: a superadmin sees every
domain, group and user; a domain admin sees those of their own domain (asking for another
domain is Forbidden); a user sees their own domain, the groups they belong to and themselves.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.errors import Forbidden, InvalidRequest
from hangar.core.filters import (
    Field,
    Filter,
    OrderBy,
    Page,
    as_bool,
    as_datetime,
    as_uuid,
    check_page,
    compile_filter,
    compile_order,
)
from hangar.core.identity.queries import Scope, check_domain, scope_of
from hangar.core.principal import Principal
from hangar.db.engine import DbSession
from hangar.db.tables.identity import DomainRow, GroupMemberRow, GroupRow, UserRow
from hangar.db.tables.scaling import ScalingGroupDomainRow, ScalingGroupGroupRow


@dataclass(frozen=True, slots=True)
class DomainView:
    name: str
    description: str
    is_active: bool
    created_at: datetime
    modified_at: datetime
    total_resource_slots: dict[str, Any]
    allowed_vfolder_hosts: list[str]
    allowed_docker_registries: list[str]
    integration_id: str | None
    scaling_groups: list[str]


@dataclass(frozen=True, slots=True)
class GroupView:
    id: uuid.UUID
    name: str
    description: str
    is_active: bool
    created_at: datetime
    modified_at: datetime
    domain_name: str
    total_resource_slots: dict[str, Any]
    allowed_vfolder_hosts: list[str]
    integration_id: str | None
    scaling_groups: list[str]


@dataclass(frozen=True, slots=True)
class GroupRef:
    id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class UserView:
    uuid: uuid.UUID
    username: str
    email: str
    need_password_change: bool
    full_name: str
    description: str
    status: str
    status_info: str | None
    created_at: datetime
    modified_at: datetime
    domain_name: str
    role: str
    groups: list[GroupRef]

    @property
    def is_active(self) -> bool:
        return self.status == "active"


def require_admin(caller: Principal) -> Scope:
    """The caller's scope when it is an admin one; Forbidden for plain users."""
    scope = scope_of(caller)
    if scope == Scope.OWN:
        raise Forbidden("Admin privilege required.")
    return scope


def require_superadmin(caller: Principal) -> None:
    if scope_of(caller) != Scope.ALL:
        raise Forbidden("Superadmin privilege required.")


# Domains ---------------------------------------------------------------------------------


async def _domain_sgroups(db: DbSession, names: Sequence[str]) -> dict[str, list[str]]:
    stmt = select(ScalingGroupDomainRow).where(ScalingGroupDomainRow.domain.in_(list(names)))
    found: dict[str, list[str]] = defaultdict(list)
    for row in (await db.execute(stmt)).scalars():
        found[row.domain].append(row.scaling_group)
    return found


def _domain_view(row: DomainRow, sgroups: list[str]) -> DomainView:
    return DomainView(
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        created_at=row.created_at,
        modified_at=row.modified_at,
        total_resource_slots=dict(row.total_resource_slots),
        allowed_vfolder_hosts=list(row.allowed_vfolder_hosts),
        allowed_docker_registries=list(row.allowed_docker_registries),
        integration_id=row.integration_id,
        scaling_groups=sorted(sgroups),
    )


async def domain(
    sessions: async_sessionmaker[DbSession], caller: Principal, name: str | None = None
) -> DomainView | None:
    """The caller's domain, or (superadmins) any domain. Forbidden for another domain."""
    name = name or caller.domain_name
    check_domain(caller, name)
    if name != caller.domain_name and scope_of(caller) != Scope.ALL:
        raise Forbidden("You may not look into another domain.")
    async with sessions() as db:
        row = await db.get(DomainRow, name)
        if row is None:
            return None
        return _domain_view(row, (await _domain_sgroups(db, [name])).get(name, []))


async def domains(
    sessions: async_sessionmaker[DbSession], caller: Principal, *, is_active: bool | None = None
) -> list[DomainView]:
    """Every domain (superadmins only)."""
    require_superadmin(caller)
    stmt = select(DomainRow).order_by(DomainRow.name)
    if is_active is not None:
        stmt = stmt.where(DomainRow.is_active.is_(is_active))
    async with sessions() as db:
        rows = list((await db.execute(stmt)).scalars())
        sgroups = await _domain_sgroups(db, [r.name for r in rows])
    return [_domain_view(r, sgroups.get(r.name, [])) for r in rows]


# Groups ----------------------------------------------------------------------------------


def _group_view(row: GroupRow, sgroups: list[str]) -> GroupView:
    return GroupView(
        id=row.id,
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        created_at=row.created_at,
        modified_at=row.modified_at,
        domain_name=row.domain_name,
        total_resource_slots=dict(row.total_resource_slots),
        allowed_vfolder_hosts=list(row.allowed_vfolder_hosts),
        integration_id=row.integration_id,
        scaling_groups=sorted(sgroups),
    )


def _group_visible(caller: Principal) -> list[ColumnElement[bool]]:
    scope = scope_of(caller)
    if scope == Scope.ALL:
        return []
    if scope == Scope.DOMAIN:
        return [GroupRow.domain_name == caller.domain_name]
    member = select(GroupMemberRow.group_id).where(GroupMemberRow.user_id == caller.user_uuid)
    return [GroupRow.id.in_(member)]


async def _group_views(db: DbSession, rows: Sequence[GroupRow]) -> list[GroupView]:
    ids = [r.id for r in rows]
    stmt = select(ScalingGroupGroupRow).where(ScalingGroupGroupRow.group.in_(ids))
    sgroups: dict[uuid.UUID, list[str]] = defaultdict(list)
    for link in (await db.execute(stmt)).scalars():
        sgroups[link.group].append(link.scaling_group)
    return [_group_view(r, sgroups.get(r.id, [])) for r in rows]


async def groups(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    domain_name: str | None = None,
    is_active: bool | None = None,
    name: str | None = None,
) -> list[GroupView]:
    """The visible groups, by domain and name. Forbidden for another domain."""
    check_domain(caller, domain_name)
    stmt = select(GroupRow).where(*_group_visible(caller)).order_by(GroupRow.name, GroupRow.id)
    if domain_name is not None:
        stmt = stmt.where(GroupRow.domain_name == domain_name)
    if is_active is not None:
        stmt = stmt.where(GroupRow.is_active.is_(is_active))
    if name is not None:
        stmt = stmt.where(GroupRow.name == name)
    async with sessions() as db:
        return await _group_views(db, list((await db.execute(stmt)).scalars()))


async def group(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    group_id: uuid.UUID,
    *,
    domain_name: str | None = None,
) -> GroupView | None:
    """A visible group by id (None when missing or out of sight)."""
    check_domain(caller, domain_name)
    stmt = select(GroupRow).where(GroupRow.id == group_id, *_group_visible(caller))
    if domain_name is not None:
        stmt = stmt.where(GroupRow.domain_name == domain_name)
    async with sessions() as db:
        views = await _group_views(db, list((await db.execute(stmt)).scalars()))
    return views[0] if views else None


# Users -----------------------------------------------------------------------------------

USER_FIELDS: dict[str, Field] = {
    "uuid": Field(UserRow.uuid, as_uuid),
    "username": Field(UserRow.username),
    "email": Field(UserRow.email),
    "full_name": Field(UserRow.full_name),
    "description": Field(UserRow.description),
    "status": Field(UserRow.status),
    "status_info": Field(UserRow.status_info),
    "role": Field(UserRow.role),
    "domain_name": Field(UserRow.domain_name),
    "need_password_change": Field(UserRow.need_password_change, as_bool),
    "created_at": Field(UserRow.created_at, as_datetime),
    "modified_at": Field(UserRow.modified_at, as_datetime),
}
_USER_ORDER = (UserRow.created_at.desc(), UserRow.email)


def _user_visible(caller: Principal) -> list[ColumnElement[bool]]:
    scope = scope_of(caller)
    if scope == Scope.ALL:
        return []
    if scope == Scope.DOMAIN:
        return [UserRow.domain_name == caller.domain_name]
    return [UserRow.uuid == caller.user_uuid]


async def _user_views(db: DbSession, rows: Sequence[UserRow]) -> list[UserView]:
    ids = [r.uuid for r in rows]
    stmt = (
        select(GroupMemberRow.user_id, GroupRow.id, GroupRow.name)
        .join(GroupRow, GroupRow.id == GroupMemberRow.group_id)
        .where(GroupMemberRow.user_id.in_(ids))
        .order_by(GroupRow.name)
    )
    memberships: dict[uuid.UUID, list[GroupRef]] = defaultdict(list)
    for user_id, gid, gname in (await db.execute(stmt)).all():
        memberships[user_id].append(GroupRef(gid, gname))
    return [
        UserView(
            uuid=r.uuid,
            username=r.username,
            email=r.email,
            need_password_change=r.need_password_change,
            full_name=r.full_name,
            description=r.description,
            status=r.status,
            status_info=r.status_info,
            created_at=r.created_at,
            modified_at=r.modified_at,
            domain_name=r.domain_name,
            role=r.role,
            groups=memberships.get(r.uuid, []),
        )
        for r in rows
    ]


def _user_conditions(
    caller: Principal,
    *,
    domain_name: str | None,
    group_id: uuid.UUID | str | None,
    is_active: bool | None,
    status: str | None,
    filter: Filter | None,
) -> list[ColumnElement[bool]]:
    require_admin(caller)
    check_domain(caller, domain_name)
    conditions = _user_visible(caller)
    if domain_name is not None:
        conditions.append(UserRow.domain_name == domain_name)
    if group_id is not None:
        try:
            gid = group_id if isinstance(group_id, uuid.UUID) else uuid.UUID(str(group_id))
        except ValueError as exc:
            raise InvalidRequest(f"group_id is not a UUID: {group_id}") from exc
        members = select(GroupMemberRow.user_id).where(GroupMemberRow.group_id == gid)
        conditions.append(UserRow.uuid.in_(members))
    if is_active is not None:
        conditions.append(
            (UserRow.status == "active") if is_active else (UserRow.status != "active")
        )
    if status:
        conditions.append(UserRow.status.in_([s.strip() for s in status.split(",")]))
    compiled = compile_filter(filter, USER_FIELDS)
    if compiled is not None:
        conditions.append(compiled)
    return conditions


async def users(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    domain_name: str | None = None,
    group_id: uuid.UUID | str | None = None,
    is_active: bool | None = None,
    status: str | None = None,
) -> list[UserView]:
    """Users an admin may see, newest first. Forbidden for plain users."""
    conditions = _user_conditions(
        caller,
        domain_name=domain_name,
        group_id=group_id,
        is_active=is_active,
        status=status,
        filter=None,
    )
    stmt = select(UserRow).where(*conditions).order_by(*_USER_ORDER)
    async with sessions() as db:
        return await _user_views(db, list((await db.execute(stmt)).scalars()))


async def user_page(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    limit: int,
    offset: int,
    domain_name: str | None = None,
    group_id: uuid.UUID | str | None = None,
    is_active: bool | None = None,
    status: str | None = None,
    filter: Filter | None = None,
    order: Sequence[OrderBy] | None = None,
) -> Page[UserView]:
    check_page(limit, offset)
    conditions = _user_conditions(
        caller,
        domain_name=domain_name,
        group_id=group_id,
        is_active=is_active,
        status=status,
        filter=filter,
    )
    ordering = compile_order(order, USER_FIELDS, _USER_ORDER)
    stmt = select(UserRow).where(*conditions).order_by(*ordering).limit(limit).offset(offset)
    count = select(func.count()).select_from(UserRow).where(*conditions)
    async with sessions() as db:
        total = int((await db.execute(count)).scalar_one())
        rows = list((await db.execute(stmt)).scalars()) if limit else []
        return Page(await _user_views(db, rows), total)


async def user(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    email: str | None = None,
    user_uuid: uuid.UUID | None = None,
    domain_name: str | None = None,
) -> UserView | None:
    """The caller, or another user an admin may see. Forbidden for a user asking for others."""
    check_domain(caller, domain_name)
    if email is None and user_uuid is None:
        user_uuid = caller.user_uuid
    stmt = select(UserRow).where(*_user_visible(caller))
    if email is not None:
        stmt = stmt.where(UserRow.email == email)
    if user_uuid is not None:
        stmt = stmt.where(UserRow.uuid == user_uuid)
    if domain_name is not None:
        stmt = stmt.where(UserRow.domain_name == domain_name)
    is_self = (email in (None, caller.email)) and (user_uuid in (None, caller.user_uuid))
    if scope_of(caller) == Scope.OWN and not is_self:
        raise Forbidden("You may only look at your own account.")
    async with sessions() as db:
        views = await _user_views(db, list((await db.execute(stmt)).scalars()))
    return views[0] if views else None
