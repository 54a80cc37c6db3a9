"""Read-only views of compute sessions, scoped to what a caller may see.

A user sees their own sessions (whatever credential made them), a domain admin those of
their domain, a superadmin all (see :func:`hangar.core.identity.queries.scope_of`). The
faces' session listings (GraphQL ``compute_session_list``, ``compute_session``,
containers) come from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import ContainerStats
from hangar.core.agents.service import AgentService
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.repo import session_from_row
from hangar.core.compute.states import SessionStatus
from hangar.core.errors import Forbidden, HangarError, InvalidRequest
from hangar.core.filters import (
    Field,
    Filter,
    OrderBy,
    Page,
    as_datetime,
    as_int,
    as_lower,
    as_upper,
    as_uuid,
    check_page,
    compile_filter,
    compile_order,
)
from hangar.core.identity.queries import Scope, check_domain, scope_of
from hangar.core.principal import Principal
from hangar.db.engine import DbSession
from hangar.db.tables.compute import SessionDependencyRow, SessionRow
from hangar.db.tables.identity import GroupRow, UserRow
from hangar.db.tables.images import ImageRow

LIVE_STAT_TIMEOUT = 2.0

Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session with the names listings show next to it."""

    session: ComputeSession
    user_email: str
    group_name: str
    registry: str
    architecture: str
    mounts: list[str]


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
_KNOWN_STATUSES = frozenset(s.value for s in SessionStatus)


def parse_statuses(status: str | None) -> list[str] | None:
    """A comma list of status names; names Hangar never uses (RESIZING...) match nothing."""
    if status is None or not status.strip():
        return None
    names = [part.strip().upper() for part in status.split(",") if part.strip()]
    return [name for name in names if name in _KNOWN_STATUSES]


def _visible(caller: Principal) -> list[ColumnElement[bool]]:
    scope = scope_of(caller)
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


def _select() -> Select[SessionRow, str, str, str, str]:
    return _joined(
        select(
            SessionRow,
            UserRow.email,
            GroupRow.name,
            ImageRow.registry_name,
            ImageRow.architecture,
        )
    )


def _view(row: Any) -> SessionView:
    session_row, email, group_name, registry, architecture = row
    return SessionView(
        session=session_from_row(session_row),
        user_email=email,
        group_name=group_name,
        registry=registry or "local",
        architecture=architecture or "x86_64",
        mounts=[
            str(m["name"]) if isinstance(m, dict) else str(m) for m in session_row.mounts or []
        ],
    )


def _conditions(
    caller: Principal,
    *,
    statuses: Sequence[str] | None,
    access_key: str | None,
    domain_name: str | None,
    group_id: str | None,
    filter: Filter | None,
) -> list[ColumnElement[bool]]:
    check_domain(caller, domain_name)
    if access_key and scope_of(caller) == Scope.OWN and access_key != caller.access_key:
        raise Forbidden("You may only list the sessions of your own keypair.")
    conditions = _visible(caller)
    if statuses is not None:
        conditions.append(SessionRow.status.in_(list(statuses)))
    if access_key:
        conditions.append(SessionRow.access_key == access_key)
    if domain_name is not None:
        conditions.append(SessionRow.domain_name == domain_name)
    if group_id:
        try:
            conditions.append(SessionRow.group_id == uuid.UUID(group_id))
        except ValueError as exc:
            raise InvalidRequest(f"group_id is not a UUID: {group_id}") from exc
    compiled = compile_filter(filter, SESSION_FIELDS)
    if compiled is not None:
        conditions.append(compiled)
    return conditions


async def session_page(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    access_key: str | None = None,
    domain_name: str | None = None,
    group_id: str | None = None,
    filter: Filter | None = None,
    order: Sequence[OrderBy] | None = None,
) -> Page[SessionView]:
    """One page of the sessions visible to the caller, newest first unless ``order`` says.

    ``status`` is a comma list of statuses. Raises Forbidden (another key or domain than
    the caller may see), InvalidRequest (bad filter, order or paging).
    """
    check_page(limit, offset)
    conditions = _conditions(
        caller,
        statuses=parse_statuses(status),
        access_key=access_key,
        domain_name=domain_name,
        group_id=group_id,
        filter=filter,
    )
    ordering = compile_order(order, SESSION_FIELDS, _DEFAULT_ORDER)
    stmt = _select().where(*conditions).order_by(*ordering).limit(limit).offset(offset)
    count = _joined(select(func.count()).select_from(SessionRow)).where(*conditions)
    async with sessions() as db:
        total = int((await db.execute(count)).scalar_one())
        rows = (await db.execute(stmt)).all() if limit else []
    return Page([_view(r) for r in rows], total)


async def session_list(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    access_key: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[SessionView]:
    """The newest visible sessions of one keypair (or all visible ones)."""
    page = await session_page(
        sessions, caller, limit=limit, offset=0, status=status, access_key=access_key
    )
    return page.items


async def session(
    sessions: async_sessionmaker[DbSession], caller: Principal, session_id: uuid.UUID
) -> SessionView | None:
    """A session by id, or None when it does not exist or the caller may not see it."""
    stmt = _select().where(SessionRow.id == session_id, *_visible(caller))
    async with sessions() as db:
        row = (await db.execute(stmt)).one_or_none()
    return _view(row) if row is not None else None


async def dependencies_of(
    sessions: async_sessionmaker[DbSession], caller: Principal, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SessionView]]:
    """For each of ``session_ids``, the sessions it depends on that the caller may see,
    oldest first (one query for all of them)."""
    found: dict[uuid.UUID, list[SessionView]] = {sid: [] for sid in session_ids}
    if not found:
        return found
    stmt = (
        _select()
        .add_columns(SessionDependencyRow.session_id)
        .join(SessionDependencyRow, SessionDependencyRow.depends_on == SessionRow.id)
        .where(SessionDependencyRow.session_id.in_(list(found)), *_visible(caller))
        .order_by(SessionRow.created_at, SessionRow.id)
    )
    async with sessions() as db:
        rows = (await db.execute(stmt)).all()
    for row in rows:
        found[row[-1]].append(_view(row[:-1]))
    return found


async def live_stat(agents: AgentService, session: ComputeSession) -> ContainerStats | None:
    """Current resource figures of a running session's kernel (None when unavailable)."""
    if session.status != SessionStatus.RUNNING or session.agent_id is None:
        return None
    with contextlib.suppress(HangarError, TimeoutError):
        client = agents.client(session.agent_id)
        return await asyncio.wait_for(client.stats(session.id), LIVE_STAT_TIMEOUT)
    return None
