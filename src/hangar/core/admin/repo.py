"""What administrators read and change of agents: their rows with the occupancy of the
sessions on them, as :class:`AgentView` values."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select, update

from hangar.core.compute.states import HOLDS_RESOURCES
from hangar.core.compute.stats import stats_of
from hangar.core.errors import HangarError
from hangar.core.filters import (
    Field,
    Filter,
    OrderBy,
    as_bool,
    as_datetime,
    as_upper,
    compile_filter,
    compile_order,
)
from hangar.core.scheduler.slots import ResourceSlots
from hangar.db.engine import DbSession
from hangar.db.tables.agents import AgentRow
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.scaling import ScalingGroupRow


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
DEFAULT_ORDER = (AgentRow.id,)


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


async def agent_page(
    db: DbSession,
    *,
    scaling_group: str | None,
    statuses: Sequence[str] | None,
    filter: Filter | None,
    order: Sequence[OrderBy] | None,
    limit: int,
    offset: int,
) -> tuple[list[AgentView], int]:
    """One page of agents (by id unless ``order`` says) and how many match. Raises
    UnknownField, InvalidFilterValue."""
    conditions: list[ColumnElement[bool]] = []
    if scaling_group:
        conditions.append(AgentRow.scaling_group == scaling_group)
    if statuses:
        conditions.append(AgentRow.status.in_(list(statuses)))
    compiled = compile_filter(filter, AGENT_FIELDS)
    if compiled is not None:
        conditions.append(compiled)
    ordering = compile_order(order, AGENT_FIELDS, DEFAULT_ORDER)
    stmt = select(AgentRow).where(*conditions).order_by(*ordering)
    count = select(func.count()).select_from(AgentRow).where(*conditions)
    total = int((await db.execute(count)).scalar_one())
    rows = list((await db.execute(stmt.limit(limit).offset(offset))).scalars())
    return (await _views(db, rows) if limit else []), total


async def agent_view(db: DbSession, agent_id: str) -> AgentView | None:
    row = await db.get(AgentRow, agent_id)
    return (await _views(db, [row]))[0] if row is not None else None


async def group_of(db: DbSession, agent_id: str) -> str | None:
    """The agent's scaling group; None when there is no such agent."""
    row = await db.get(AgentRow, agent_id)
    return row.scaling_group if row is not None else None


async def scaling_group_exists(db: DbSession, name: str) -> bool:
    return await db.get(ScalingGroupRow, name) is not None


async def change(db: DbSession, agent_id: str, **values: Any) -> bool:
    """Set ``values`` on the agent's row; False when there is no such agent."""
    result = await db.execute(update(AgentRow).where(AgentRow.id == agent_id).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def sessions_holding(db: DbSession, agent_id: str) -> int:
    """How many sessions hold resources on the agent."""
    busy = select(func.count()).where(
        SessionRow.agent_id == agent_id,
        SessionRow.status.in_([s.value for s in HOLDS_RESOURCES]),
    )
    return int((await db.execute(busy)).scalar_one())
