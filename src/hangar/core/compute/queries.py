"""Read-only views of compute sessions, scoped to what a caller may see.

A user sees their own sessions (whatever credential made them), a domain admin those of
their domain, a superadmin all (see :func:`hangar.core.identity.scope.scope_of`). The
faces' session listings (GraphQL ``compute_session_list``, ``compute_session``,
containers) come from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import ContainerStats
from hangar.core.agents.service import AgentService
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.repo import listing
from hangar.core.compute.repo.listing import SESSION_FIELDS as SESSION_FIELDS
from hangar.core.compute.states import SessionStatus
from hangar.core.compute.views import SessionView as SessionView
from hangar.core.errors import Forbidden, HangarError, InvalidRequest
from hangar.core.filters import Filter, OrderBy, Page, check_page
from hangar.core.identity.scope import Scope, check_domain, scope_of
from hangar.core.principal import Principal
from hangar.db.engine import DbSession

LIVE_STAT_TIMEOUT = 2.0

_KNOWN_STATUSES = frozenset(s.value for s in SessionStatus)


def parse_statuses(status: str | None) -> list[str] | None:
    """A comma list of status names; names Hangar never uses (RESIZING...) match nothing."""
    if status is None or not status.strip():
        return None
    names = [part.strip().upper() for part in status.split(",") if part.strip()]
    return [name for name in names if name in _KNOWN_STATUSES]


def _group_id(group_id: str | None) -> uuid.UUID | None:
    if not group_id:
        return None
    try:
        return uuid.UUID(group_id)
    except ValueError as exc:
        raise InvalidRequest(f"group_id is not a UUID: {group_id}") from exc


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
    check_domain(caller, domain_name)
    scope = scope_of(caller)
    if access_key and scope == Scope.OWN and access_key != caller.access_key:
        raise Forbidden("You may only list the sessions of your own keypair.")
    async with sessions() as db:
        items, total = await listing.session_views(
            db,
            caller,
            scope,
            limit=limit,
            offset=offset,
            statuses=parse_statuses(status),
            access_key=access_key,
            domain_name=domain_name,
            group_id=_group_id(group_id),
            filter=filter,
            order=order,
        )
    return Page(items, total)


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
    async with sessions() as db:
        return await listing.find_session_view(db, caller, scope_of(caller), session_id)


async def dependencies_of(
    sessions: async_sessionmaker[DbSession], caller: Principal, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SessionView]]:
    """For each of ``session_ids``, the sessions it depends on that the caller may see,
    oldest first (one query for all of them)."""
    if not session_ids:
        return {}
    async with sessions() as db:
        return await listing.dependency_views(db, caller, scope_of(caller), session_ids)


async def live_stat(agents: AgentService, session: ComputeSession) -> ContainerStats | None:
    """Current resource figures of a running session's kernel (None when unavailable)."""
    if session.status != SessionStatus.RUNNING or session.agent_id is None:
        return None
    with contextlib.suppress(HangarError, TimeoutError):
        client = agents.client(session.agent_id)
        return await asyncio.wait_for(client.stats(session.id), LIVE_STAT_TIMEOUT)
    return None
