"""Agents as administrators see them: listings with occupancy, detail, and changes
(schedulable, scaling group, decommission). Superadmins only; others get Forbidden."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.compute.states import HOLDS_RESOURCES
from hangar.core.compute.stats import stats_of
from hangar.core.errors import Conflict, HangarError, InvalidRequest, NotFound
from hangar.core.filters import (
    Field,
    Filter,
    OrderBy,
    Page,
    as_bool,
    as_datetime,
    as_upper,
    check_page,
    compile_filter,
    compile_order,
)
from hangar.core.identity.directory import require_superadmin
from hangar.core.principal import Principal
from hangar.core.scheduler.slots import ResourceSlots
from hangar.db.engine import DbSession
from hangar.db.tables.agents import AgentRow
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.scaling import ScalingGroupRow

TERMINATED = "TERMINATED"
AGENT_STATUSES = frozenset({"ALIVE", "LOST", "RESTARTING", "TERMINATED"})


@dataclass(frozen=True, slots=True)
class AgentView:
    id: str
    status: str
    status_changed: datetime
    region: str
    scaling_group: str
    schedulable: bool
    available_slots: dict[str, str]
    occupied_slots: dict[str, str]
    addr: str
    architecture: str
    version: str
    compute_plugins: dict[str, Any]
    devices: list[dict[str, Any]]
    first_contact: datetime
    lost_at: datetime | None
    usage: dict[str, Decimal]  # summed kernel metrics: cpu_util (percent), mem (bytes)
    running_sessions: int


AGENT_FIELDS: dict[str, Field] = {
    "id": Field(AgentRow.id),
    "status": Field(AgentRow.status, as_upper),
    "status_changed": Field(AgentRow.status_changed, as_datetime),
    "region": Field(AgentRow.region),
    "scaling_group": Field(AgentRow.scaling_group),
    "schedulable": Field(AgentRow.schedulable, as_bool),
    "addr": Field(AgentRow.addr),
    "architecture": Field(AgentRow.architecture),
    "version": Field(AgentRow.version),
    "first_contact": Field(AgentRow.first_contact, as_datetime),
    "lost_at": Field(AgentRow.lost_at, as_datetime),
}
_DEFAULT_ORDER = (AgentRow.id,)


async def _occupancy(
    db: DbSession, agent_ids: Sequence[str]
) -> dict[str, tuple[ResourceSlots, dict[str, Decimal], int]]:
    stmt = select(SessionRow.agent_id, SessionRow.occupied_slots, SessionRow.last_stat).where(
        SessionRow.agent_id.in_(list(agent_ids)),
        SessionRow.status.in_([s.value for s in HOLDS_RESOURCES]),
    )
    slots: dict[str, ResourceSlots] = defaultdict(ResourceSlots)
    usage: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    counts: dict[str, int] = defaultdict(int)
    for agent_id, occupied, stat in (await db.execute(stmt)).all():
        with contextlib.suppress(HangarError, ValueError, ArithmeticError):
            slots[agent_id] = slots[agent_id] + ResourceSlots.parse(occupied or {})
        figures = stats_of(stat)
        usage[agent_id]["cpu_util"] += 0  # an ended session's figures hold no utilisation
        usage[agent_id]["mem"] += (figures.mem_cur_bytes or figures.mem_max_bytes) if figures else 0
        counts[agent_id] += 1
    return {a: (slots[a], dict(usage[a]), counts[a]) for a in agent_ids}


async def _views(db: DbSession, rows: Sequence[AgentRow]) -> list[AgentView]:
    occupancy = await _occupancy(db, [r.id for r in rows])
    views = []
    for row in rows:
        slots, usage, count = occupancy[row.id]
        views.append(
            AgentView(
                id=row.id,
                status=row.status,
                status_changed=row.status_changed,
                region=row.region,
                scaling_group=row.scaling_group,
                schedulable=row.schedulable,
                available_slots=dict(row.available_slots),
                occupied_slots=slots.to_wire(),
                addr=row.addr,
                architecture=row.architecture,
                version=row.version,
                compute_plugins=dict(row.compute_plugins or {}),
                devices=list(row.devices or []),
                first_contact=row.first_contact,
                lost_at=row.lost_at,
                usage=usage,
                running_sessions=count,
            )
        )
    return views


def _conditions(
    *, scaling_group: str | None, status: str | None, filter: Filter | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if scaling_group:
        conditions.append(AgentRow.scaling_group == scaling_group)
    if status:
        names = [s.strip().upper() for s in status.split(",") if s.strip()]
        unknown = sorted(set(names) - AGENT_STATUSES)
        if unknown:
            raise InvalidRequest(f"unknown agent status: {', '.join(unknown)}")
        conditions.append(AgentRow.status.in_(names))
    compiled = compile_filter(filter, AGENT_FIELDS)
    if compiled is not None:
        conditions.append(compiled)
    return conditions


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
        conditions = _conditions(scaling_group=scaling_group, status=status, filter=filter)
        ordering = compile_order(order, AGENT_FIELDS, _DEFAULT_ORDER)
        stmt = select(AgentRow).where(*conditions).order_by(*ordering)
        count = select(func.count()).select_from(AgentRow).where(*conditions)
        async with self._sessions() as db:
            total = int((await db.execute(count)).scalar_one())
            rows = list((await db.execute(stmt.limit(limit).offset(offset))).scalars())
            return Page(await _views(db, rows) if limit else [], total)

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
            row = await db.get(AgentRow, agent_id)
            return (await _views(db, [row]))[0] if row is not None else None

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
            row = await db.get(AgentRow, agent_id)
            if row is None:
                raise NotFound("agent")
            if scaling_group is not None and scaling_group != row.scaling_group:
                if await db.get(ScalingGroupRow, scaling_group) is None:
                    raise NotFound("scaling group")
                row.scaling_group = scaling_group
            if schedulable is not None:
                row.schedulable = schedulable

    async def set_schedulable(
        self, caller: Principal, agent_ids: Sequence[str], value: bool
    ) -> None:
        """The scheduler operations include-agents / exclude-agents (all or nothing)."""
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            for agent_id in agent_ids:
                row = await db.get(AgentRow, str(agent_id))
                if row is None:
                    raise NotFound("agent")
                row.schedulable = value

    async def decommission(self, caller: Principal, agent_id: str) -> None:
        """Retire an agent: it takes no new sessions and is marked TERMINATED.

        Conflict while sessions still hold resources on it.
        """
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            row = await db.get(AgentRow, agent_id)
            if row is None:
                raise NotFound("agent")
            busy = select(func.count()).where(
                SessionRow.agent_id == agent_id,
                SessionRow.status.in_([s.value for s in HOLDS_RESOURCES]),
            )
            if int((await db.execute(busy)).scalar_one()):
                raise Conflict("Sessions still run on this agent; terminate them first.")
            row.schedulable = False
            row.status, row.status_changed = TERMINATED, self._clock.now()
