"""The counts a census takes, each one grouped query."""

from __future__ import annotations

from sqlalchemy import func, select

from hangar.core.compute.states import HOLDS_RESOURCES, SessionStatus
from hangar.db.engine import DbSession
from hangar.db.tables.agents import AgentRow
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.scaling import ScalingGroupRow

RETIRED_AGENT = "TERMINATED"


async def sessions_by_status(db: DbSession) -> dict[str, int]:
    stmt = select(SessionRow.status, func.count()).group_by(SessionRow.status)
    return {status: n for status, n in (await db.execute(stmt)).all()}


async def scaling_groups(db: DbSession) -> list[str]:
    return list((await db.execute(select(ScalingGroupRow.name))).scalars())


async def pending_by_group(db: DbSession) -> dict[str, int]:
    """Scaling group -> sessions waiting for the scheduler (groups with some only)."""
    stmt = (
        select(SessionRow.scaling_group, func.count())
        .where(SessionRow.status == SessionStatus.PENDING.value)
        .group_by(SessionRow.scaling_group)
    )
    return {group: n for group, n in (await db.execute(stmt)).all()}


async def held_slots(db: DbSession) -> list[tuple[str, object]]:
    """(agent id, occupied slots) of each session that holds resources on an agent."""
    stmt = select(SessionRow.agent_id, SessionRow.occupied_slots).where(
        SessionRow.status.in_([s.value for s in HOLDS_RESOURCES]),
        SessionRow.agent_id.is_not(None),
    )
    return [(agent_id, slots) for agent_id, slots in (await db.execute(stmt)).all()]


async def agents(db: DbSession) -> list[tuple[str, str, str, object]]:
    """(id, scaling group, status, available slots) of the agents that are not retired."""
    stmt = select(AgentRow).where(AgentRow.status != RETIRED_AGENT).order_by(AgentRow.id)
    rows = (await db.execute(stmt)).scalars().all()
    return [(r.id, r.scaling_group, r.status, r.available_slots) for r in rows]
