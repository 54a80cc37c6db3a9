"""Agents as administrators see them: listings with occupancy, detail, and changes
(schedulable, scaling group, decommission). Superadmins only; others get Forbidden."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.admin import repo
from hangar.core.admin.repo import AGENT_FIELDS as AGENT_FIELDS  # the list's fields, for faces
from hangar.core.admin.repo import AgentView as AgentView
from hangar.core.clock import Clock
from hangar.core.errors import Conflict, InvalidRequest, NotFound
from hangar.core.filters import (
    Filter,
    OrderBy,
    Page,
    check_page,
)
from hangar.core.identity.directory import require_superadmin
from hangar.core.principal import Principal
from hangar.db.engine import DbSession

TERMINATED = "TERMINATED"
AGENT_STATUSES = frozenset({"ALIVE", "LOST", "RESTARTING", "TERMINATED"})


def _statuses(status: str | None) -> list[str] | None:
    """The statuses of a comma list; raises InvalidRequest naming unknown ones."""
    if not status:
        return None
    names = [s.strip().upper() for s in status.split(",") if s.strip()]
    unknown = sorted(set(names) - AGENT_STATUSES)
    if unknown:
        raise InvalidRequest(f"unknown agent status: {', '.join(unknown)}")
    return names or None


class AgentAdmin:
    def __init__(self, sessions: async_sessionmaker[DbSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def page(
        self,
        caller: Principal,
        *,
        limit: int,
        offset: int,
        scaling_group: str | None = None,
        status: str | None = None,
        filter: Filter | None = None,
        order: Sequence[OrderBy] | None = None,
    ) -> Page[AgentView]:
        require_superadmin(caller)
        check_page(limit, offset)
        statuses = _statuses(status)
        async with self._sessions() as db:
            items, total = await repo.agent_page(
                db, scaling_group=scaling_group, statuses=statuses, filter=filter, order=order,
                limit=limit, offset=offset,
            )  # fmt: skip
        return Page(items, total)

    async def find(
        self, caller: Principal, *, scaling_group: str | None = None, status: str | None = None
    ) -> list[AgentView]:
        page = await self.page(
            caller, limit=1000, offset=0, scaling_group=scaling_group, status=status
        )
        return page.items

    async def get(self, caller: Principal, agent_id: str) -> AgentView | None:
        require_superadmin(caller)
        async with self._sessions() as db:
            return await repo.agent_view(db, agent_id)

    async def modify(
        self,
        caller: Principal,
        agent_id: str,
        *,
        schedulable: bool | None = None,
        scaling_group: str | None = None,
    ) -> None:
        """Change whether an agent takes new sessions and which scaling group it serves."""
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            group = await repo.group_of(db, agent_id)
            if group is None:
                raise NotFound("agent")
            values: dict[str, Any] = {}
            if scaling_group is not None and scaling_group != group:
                if not await repo.scaling_group_exists(db, scaling_group):
                    raise NotFound("scaling group")
                values["scaling_group"] = scaling_group
            if schedulable is not None:
                values["schedulable"] = schedulable
            if values:
                await repo.change(db, agent_id, **values)

    async def set_schedulable(
        self, caller: Principal, agent_ids: Sequence[str], value: bool
    ) -> None:
        """The scheduler operations include-agents / exclude-agents (all or nothing)."""
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            for agent_id in agent_ids:
                if not await repo.change(db, str(agent_id), schedulable=value):
                    raise NotFound("agent")

    async def decommission(self, caller: Principal, agent_id: str) -> None:
        """Retire an agent: it takes no new sessions and is marked TERMINATED.

        Conflict while sessions still hold resources on it.
        """
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if await repo.group_of(db, agent_id) is None:
                raise NotFound("agent")
            if await repo.sessions_holding(db, agent_id):
                raise Conflict("Sessions still run on this agent; terminate them first.")
            await repo.change(
                db, agent_id, schedulable=False, status=TERMINATED, status_changed=self._clock.now()
            )
