"""Agent rows: registration, liveness and the records the scheduler reads."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from hangar.core.agents.models import AgentRecord
from hangar.db.engine import DbSession
from hangar.db.tables.agents import AgentRow

ALIVE = "ALIVE"
LOST = "LOST"


def record_of(row: AgentRow) -> AgentRecord:
    return AgentRecord(
        id=row.id,
        status=row.status,
        scaling_group=row.scaling_group,
        schedulable=row.schedulable,
        available_slots=dict(row.available_slots),
        devices=list(row.devices),
        addr=row.addr,
        architecture=row.architecture,
        version=row.version,
        first_contact=row.first_contact,
        last_heartbeat=row.last_heartbeat,
    )


async def register(
    db: DbSession, agent_id: str, scaling_group: str, now: datetime, inventory: dict[str, Any]
) -> None:
    """Mark the agent ALIVE with its ``inventory`` (column values), adding its row (in
    ``scaling_group``) on first contact."""
    row = await db.get(AgentRow, agent_id)
    if row is None:
        row = AgentRow(id=agent_id, first_contact=now, scaling_group=scaling_group,
                       schedulable=True)  # fmt: skip
        db.add(row)
    row.status, row.status_changed, row.last_heartbeat, row.lost_at = ALIVE, now, now, None
    for name, value in inventory.items():
        setattr(row, name, value)


async def mark_lost(
    db: DbSession, heard_before: datetime, connected: Collection[str], now: datetime
) -> list[str]:
    """Mark LOST the ALIVE agents last heard of before ``heard_before`` that are not among
    ``connected``; returns their ids."""
    stmt = select(AgentRow).where(AgentRow.status == ALIVE, AgentRow.last_heartbeat < heard_before)
    rows = [row for row in (await db.execute(stmt)).scalars() if row.id not in connected]
    for row in rows:
        row.status, row.status_changed, row.lost_at = LOST, now, now
    return [row.id for row in rows]


async def heartbeat(db: DbSession, agent_id: str, now: datetime) -> bool:
    """Record that the agent was heard of now (ALIVE again if it was not); False when there
    is no such agent."""
    row = await db.get(AgentRow, agent_id)
    if row is None:
        return False
    row.last_heartbeat = now
    if row.status != ALIVE:
        row.status, row.status_changed, row.lost_at = ALIVE, now, None
    return True


async def is_alive(db: DbSession, agent_id: str) -> bool:
    row = await db.get(AgentRow, agent_id)
    return row is not None and row.status == ALIVE


async def refresh(db: DbSession, agent_ids: Collection[str], now: datetime) -> None:
    """Renew the heartbeat of those of ``agent_ids`` that are ALIVE."""
    await db.execute(
        update(AgentRow)
        .where(AgentRow.id.in_(list(agent_ids)), AgentRow.status == ALIVE)
        .values(last_heartbeat=now)
    )


async def alive(db: DbSession) -> list[AgentRecord]:
    """Every ALIVE agent, by id."""
    stmt = select(AgentRow).where(AgentRow.status == ALIVE).order_by(AgentRow.id)
    return [record_of(row) for row in (await db.execute(stmt)).scalars()]
