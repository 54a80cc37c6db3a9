"""Session listings with their owner's email, group name and image registry.

Listings read columns with a Core SELECT, never ORM instances: building and tracking a
``SessionRow`` per row was most of a 1,000-row page's time (issue 19's session list).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Row, Select, func, select
from sqlalchemy.sql.elements import KeyedColumnElement

from hangar.core.compute.repo import session_from_row
from hangar.core.compute.views import SessionView
from hangar.core.filters import (
    Field,
    Filter,
    OrderBy,
    as_datetime,
    as_int,
    as_lower,
    as_upper,
    as_uuid,
    compile_filter,
    compile_order,
)
from hangar.core.identity.scope import Scope
from hangar.core.principal import Principal
from hangar.db.engine import DbSession
from hangar.db.tables.compute import SessionDependencyRow, SessionRow
from hangar.db.tables.identity import GroupRow, UserRow
from hangar.db.tables.images import ImageRow

Ts = TypeVarTuple("Ts")

SESSION_FIELDS: dict[str, Field] = {
    "id": Field(SessionRow.id, as_uuid),
    "session_id": Field(SessionRow.id, as_uuid),
    "name": Field(SessionRow.name),
    "session_name": Field(SessionRow.name),
    "status": Field(SessionRow.status, as_upper),
    "status_info": Field(SessionRow.status_info),
    "status_changed": Field(SessionRow.status_changed, as_datetime),
    "type": Field(SessionRow.session_type, as_lower),
    "session_type": Field(SessionRow.session_type, as_lower),
    "image": Field(SessionRow.image_ref),
    "tag": Field(SessionRow.tag),
    "access_key": Field(SessionRow.access_key),
    "domain_name": Field(SessionRow.domain_name),
    "group_id": Field(SessionRow.group_id, as_uuid),
    "group_name": Field(GroupRow.name),
    "user_id": Field(SessionRow.user_uuid, as_uuid),
    "user_uuid": Field(SessionRow.user_uuid, as_uuid),
    "user_email": Field(UserRow.email),
    "agent": Field(SessionRow.agent_id),
    "scaling_group": Field(SessionRow.scaling_group),
    "result": Field(SessionRow.result, as_upper),
    "cluster_mode": Field(SessionRow.cluster_mode),
    "cluster_size": Field(SessionRow.cluster_size, as_int),
    "startup_command": Field(SessionRow.startup_command),
    "num_queries": Field(SessionRow.num_queries, as_int),
    "created_at": Field(SessionRow.created_at, as_datetime),
    "terminated_at": Field(SessionRow.terminated_at, as_datetime),
    "starts_at": Field(SessionRow.starts_at, as_datetime),
}
_DEFAULT_ORDER = (SessionRow.created_at.desc(), SessionRow.id)


def _visible(caller: Principal, scope: Scope) -> list[ColumnElement[bool]]:
    if scope == Scope.ALL:
        return []
    if scope == Scope.DOMAIN:
        return [SessionRow.domain_name == caller.domain_name]
    return [SessionRow.user_uuid == caller.user_uuid]


def _joined(stmt: Select[*Ts]) -> Select[*Ts]:
    return (
        stmt.join(UserRow, UserRow.uuid == SessionRow.user_uuid)
        .join(GroupRow, GroupRow.id == SessionRow.group_id)
        .outerjoin(ImageRow, ImageRow.id == SessionRow.image_id)
    )


_UNLISTED = frozenset({"lease_owner", "lease_expires"})  # the reconciler's, not the session's
_COLUMNS: tuple[KeyedColumnElement[Any], ...] = tuple(
    c for c in SessionRow.__table__.columns if c.key not in _UNLISTED
)
_NAMES = ("user_email", "group_name", "registry_name", "architecture")


def _select() -> Select[Any]:
    return _joined(
        select(
            *_COLUMNS,
            UserRow.email.label(_NAMES[0]),
            GroupRow.name.label(_NAMES[1]),
            ImageRow.registry_name.label(_NAMES[2]),
            ImageRow.architecture.label(_NAMES[3]),
        )
    )


def _view(row: Row[Any]) -> SessionView:
    return SessionView(
        session=session_from_row(row),
        user_email=row.user_email,
        group_name=row.group_name,
        registry=row.registry_name or "local",
        architecture=row.architecture or "x86_64",
        mounts=[str(m["name"]) if isinstance(m, dict) else str(m) for m in row.mounts or []],
    )


def _conditions(
    caller: Principal,
    scope: Scope,
    *,
    statuses: Sequence[str] | None,
    access_key: str | None,
    domain_name: str | None,
    group_id: uuid.UUID | None,
    filter: Filter | None,
) -> list[ColumnElement[bool]]:
    conditions = _visible(caller, scope)
    if statuses is not None:
        conditions.append(SessionRow.status.in_(list(statuses)))
    if access_key:
        conditions.append(SessionRow.access_key == access_key)
    if domain_name is not None:
        conditions.append(SessionRow.domain_name == domain_name)
    if group_id is not None:
        conditions.append(SessionRow.group_id == group_id)
    compiled = compile_filter(filter, SESSION_FIELDS)
    if compiled is not None:
        conditions.append(compiled)
    return conditions


async def session_views(
    db: DbSession,
    caller: Principal,
    scope: Scope,
    *,
    limit: int,
    offset: int,
    statuses: Sequence[str] | None = None,
    access_key: str | None = None,
    domain_name: str | None = None,
    group_id: uuid.UUID | None = None,
    filter: Filter | None = None,
    order: Sequence[OrderBy] | None = None,
) -> tuple[list[SessionView], int]:
    """One page of the sessions ``scope`` lets ``caller`` see that match (newest first
    unless ``order`` says), and how many match in all."""
    conditions = _conditions(
        caller,
        scope,
        statuses=statuses,
        access_key=access_key,
        domain_name=domain_name,
        group_id=group_id,
        filter=filter,
    )
    ordering = compile_order(order, SESSION_FIELDS, _DEFAULT_ORDER)
    stmt = _select().where(*conditions).order_by(*ordering).limit(limit).offset(offset)
    count = _joined(select(func.count()).select_from(SessionRow)).where(*conditions)
    total = int((await db.execute(count)).scalar_one())
    rows = (await db.execute(stmt)).all() if limit else []
    return [_view(r) for r in rows], total


async def find_session_view(
    db: DbSession, caller: Principal, scope: Scope, session_id: uuid.UUID
) -> SessionView | None:
    stmt = _select().where(SessionRow.id == session_id, *_visible(caller, scope))
    row = (await db.execute(stmt)).one_or_none()
    return _view(row) if row is not None else None


async def dependency_views(
    db: DbSession, caller: Principal, scope: Scope, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SessionView]]:
    """For each of ``session_ids``, the sessions it depends on that ``scope`` lets
    ``caller`` see, oldest first (one query for all of them)."""
    found: dict[uuid.UUID, list[SessionView]] = {sid: [] for sid in session_ids}
    if not found:
        return found
    stmt = (
        _select()
        .add_columns(SessionDependencyRow.session_id)
        .join(SessionDependencyRow, SessionDependencyRow.depends_on == SessionRow.id)
        .where(SessionDependencyRow.session_id.in_(list(found)), *_visible(caller, scope))
        .order_by(SessionRow.created_at, SessionRow.id)
    )
    for row in (await db.execute(stmt)).all():
        found[row[-1]].append(_view(row))
    return found
