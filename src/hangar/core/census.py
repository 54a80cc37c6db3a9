"""What operators count: sessions by status, the scheduler's queue and the agents' slots.

Taken at scrape time from the database: a grouped count of sessions, a grouped count of the
pending ones per scaling group, and the agents with the slots of the sessions that hold
resources on them. Nothing is kept in memory between two scrapes.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.compute.states import HOLDS_RESOURCES, SessionStatus
from hangar.core.errors import HangarError
from hangar.core.scheduler.slots import ResourceSlots
from hangar.db.engine import DbSession
from hangar.db.tables.agents import AgentRow
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.scaling import ScalingGroupRow

RETIRED_AGENT = "TERMINATED"


@dataclass(frozen=True, slots=True)
class AgentSlots:
    """One agent's capacity and what its sessions occupy, by slot name."""

    agent_id: str
    scaling_group: str
    status: str
    capacity: ResourceSlots
    occupied: ResourceSlots


@dataclass(frozen=True, slots=True)
class Census:
    sessions: dict[str, int]  # every status, zero included
    pending: dict[str, int]  # scaling group -> sessions waiting for the scheduler
    agents: tuple[AgentSlots, ...]  # agents that are not retired


def _slots(raw: object) -> ResourceSlots:
    with contextlib.suppress(HangarError, ValueError, ArithmeticError, TypeError):
        return ResourceSlots.parse(raw if isinstance(raw, dict) else {})
    return ResourceSlots()


class CensusTaker:
    def __init__(self, sessions: async_sessionmaker[DbSession]) -> None:
        self._sessions = sessions

    async def take(self) -> Census:
        """The counts now. Raises what the database raises."""
        count = func.count()
        by_status = select(SessionRow.status, count).group_by(SessionRow.status)
        pending = (
            select(SessionRow.scaling_group, count)
            .where(SessionRow.status == SessionStatus.PENDING.value)
            .group_by(SessionRow.scaling_group)
        )
        held = select(SessionRow.agent_id, SessionRow.occupied_slots).where(
            SessionRow.status.in_([s.value for s in HOLDS_RESOURCES]),
            SessionRow.agent_id.is_not(None),
        )
        agents = select(AgentRow).where(AgentRow.status != RETIRED_AGENT).order_by(AgentRow.id)
        async with self._sessions() as db:
            statuses = {s.value: 0 for s in SessionStatus}
            statuses.update({status: n for status, n in (await db.execute(by_status)).all()})
            queue = {name: 0 for name in (await db.execute(select(ScalingGroupRow.name))).scalars()}
            queue.update({group: n for group, n in (await db.execute(pending)).all()})
            occupied: dict[str, ResourceSlots] = defaultdict(ResourceSlots)
            for agent_id, slots in (await db.execute(held)).all():
                occupied[agent_id] = occupied[agent_id] + _slots(slots)
            rows = (await db.execute(agents)).scalars().all()
            found = tuple(
                AgentSlots(
                    agent_id=row.id,
                    scaling_group=row.scaling_group,
                    status=row.status,
                    capacity=_slots(row.available_slots),
                    occupied=occupied[row.id],
                )
                for row in rows
            )
        return Census(sessions=statuses, pending=queue, agents=found)
