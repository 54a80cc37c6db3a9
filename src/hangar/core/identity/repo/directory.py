"""Domains, groups and users as the directory lists them, limited to what a scope sees."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select

from hangar.core.filters import (
    Field,
    Filter,
    OrderBy,
    as_bool,
    as_datetime,
    as_uuid,
    compile_filter,
    compile_order,
)
from hangar.core.identity.scope import Scope
from hangar.core.identity.views import DomainView, GroupRef, GroupView, UserView
from hangar.core.principal import Principal
from hangar.db.engine import DbSession
from hangar.db.tables.identity import DomainRow, GroupMemberRow, GroupRow, UserRow
from hangar.db.tables.scaling import ScalingGroupDomainRow, ScalingGroupGroupRow

# Domains ---------------------------------------------------------------------------------


async def _domain_sgroups(db: DbSession, names: Sequence[str]) -> dict[str, list[str]]:
    stmt = select(ScalingGroupDomainRow).where(ScalingGroupDomainRow.domain.in_(list(names)))
    found: dict[str, list[str]] = defaultdict(list)
    for row in (await db.execute(stmt)).scalars():
        found[row.domain].append(row.scaling_group)
    return found


def domain_view(row: DomainRow, sgroups: list[str]) -> DomainView:
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


async def find_domain(db: DbSession, name: str) -> DomainView | None:
    row = await db.get(DomainRow, name)
    if row is None:
        return None
    return domain_view(row, (await _domain_sgroups(db, [name])).get(name, []))


async def domain_views(db: DbSession, *, is_active: bool | None = None) -> list[DomainView]:
    stmt = select(DomainRow).order_by(DomainRow.name)
    if is_active is not None:
        stmt = stmt.where(DomainRow.is_active.is_(is_active))
    rows = list((await db.execute(stmt)).scalars())
    sgroups = await _domain_sgroups(db, [r.name for r in rows])
    return [domain_view(r, sgroups.get(r.name, [])) for r in rows]


# Groups ----------------------------------------------------------------------------------


def group_view(row: GroupRow, sgroups: list[str]) -> GroupView:
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


def _group_visible(caller: Principal, scope: Scope) -> list[ColumnElement[bool]]:
    if scope == Scope.ALL:
        return []
    if scope == Scope.DOMAIN:
        return [GroupRow.domain_name == caller.domain_name]
    member = select(GroupMemberRow.group_id).where(GroupMemberRow.user_id == caller.user_uuid)
    return [GroupRow.id.in_(member)]


async def group_views(
    db: DbSession,
    caller: Principal,
    scope: Scope,
    *,
    group_id: uuid.UUID | None = None,
    domain_name: str | None = None,
    is_active: bool | None = None,
    name: str | None = None,
) -> list[GroupView]:
    """The groups ``scope`` lets ``caller`` see that match, by name."""
    stmt = select(GroupRow).where(*_group_visible(caller, scope))
    stmt = stmt.order_by(GroupRow.name, GroupRow.id)
    if group_id is not None:
        stmt = stmt.where(GroupRow.id == group_id)
    if domain_name is not None:
        stmt = stmt.where(GroupRow.domain_name == domain_name)
    if is_active is not None:
        stmt = stmt.where(GroupRow.is_active.is_(is_active))
    if name is not None:
        stmt = stmt.where(GroupRow.name == name)
    rows = list((await db.execute(stmt)).scalars())
    links = select(ScalingGroupGroupRow).where(ScalingGroupGroupRow.group.in_([r.id for r in rows]))
    sgroups: dict[uuid.UUID, list[str]] = defaultdict(list)
    for link in (await db.execute(links)).scalars():
        sgroups[link.group].append(link.scaling_group)
    return [group_view(r, sgroups.get(r.id, [])) for r in rows]


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


def _user_visible(caller: Principal, scope: Scope) -> list[ColumnElement[bool]]:
    if scope == Scope.ALL:
        return []
    if scope == Scope.DOMAIN:
        return [UserRow.domain_name == caller.domain_name]
    return [UserRow.uuid == caller.user_uuid]


async def _user_views(db: DbSession, rows: Sequence[UserRow]) -> list[UserView]:
    stmt = (
        select(GroupMemberRow.user_id, GroupRow.id, GroupRow.name)
        .join(GroupRow, GroupRow.id == GroupMemberRow.group_id)
        .where(GroupMemberRow.user_id.in_([r.uuid for r in rows]))
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
    scope: Scope,
    *,
    email: str | None,
    user_uuid: uuid.UUID | None,
    domain_name: str | None,
    group_id: uuid.UUID | None,
    is_active: bool | None,
    statuses: list[str] | None,
    filter: Filter | None,
) -> list[ColumnElement[bool]]:
    conditions = _user_visible(caller, scope)
    if email is not None:
        conditions.append(UserRow.email == email)
    if user_uuid is not None:
        conditions.append(UserRow.uuid == user_uuid)
    if domain_name is not None:
        conditions.append(UserRow.domain_name == domain_name)
    if group_id is not None:
        members = select(GroupMemberRow.user_id).where(GroupMemberRow.group_id == group_id)
        conditions.append(UserRow.uuid.in_(members))
    if is_active is not None:
        conditions.append(
            (UserRow.status == "active") if is_active else (UserRow.status != "active")
        )
    if statuses:
        conditions.append(UserRow.status.in_(statuses))
    compiled = compile_filter(filter, USER_FIELDS)
    if compiled is not None:
        conditions.append(compiled)
    return conditions


async def user_views(
    db: DbSession,
    caller: Principal,
    scope: Scope,
    *,
    email: str | None = None,
    user_uuid: uuid.UUID | None = None,
    domain_name: str | None = None,
    group_id: uuid.UUID | None = None,
    is_active: bool | None = None,
    statuses: list[str] | None = None,
    filter: Filter | None = None,
    order: Sequence[OrderBy] | None = None,
    limit: int | None = None,
    offset: int = 0,
    count: bool = False,
) -> tuple[list[UserView], int]:
    """The users ``scope`` lets ``caller`` see that match (newest first by default), and
    how many match in all when ``count`` (else 0)."""
    conditions = _user_conditions(
        caller,
        scope,
        email=email,
        user_uuid=user_uuid,
        domain_name=domain_name,
        group_id=group_id,
        is_active=is_active,
        statuses=statuses,
        filter=filter,
    )
    ordering = compile_order(order, USER_FIELDS, _USER_ORDER)
    total = 0
    if count:
        counting = select(func.count()).select_from(UserRow).where(*conditions)
        total = int((await db.execute(counting)).scalar_one())
    if limit == 0:
        return [], total
    stmt = select(UserRow).where(*conditions).order_by(*ordering)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return await _user_views(db, list((await db.execute(stmt)).scalars())), total


async def user_view(db: DbSession, user_uuid: uuid.UUID) -> UserView | None:
    """One user by id, whoever asks (for administration that has already checked reach)."""
    row = await db.get(UserRow, user_uuid)
    return None if row is None else (await _user_views(db, [row]))[0]
