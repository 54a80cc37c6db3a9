"""What operators count: sessions by status, the scheduler's queue and the agents' slots.

Taken at scrape time from the database: a grouped count of sessions, a grouped count of the
pending ones per scaling group, and the agents with the slots of the sessions that hold
resources on them. Nothing is kept in memory between two scrapes.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.census import repo
from hangar.core.compute.states import SessionStatus
from hangar.core.errors import HangarError
from hangar.core.scheduler.slots import ResourceSlots
from hangar.db.engine import DbSession


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
        async with self._sessions() as db:
            statuses = {s.value: 0 for s in SessionStatus}
            statuses.update(await repo.sessions_by_status(db))
            queue = {name: 0 for name in await repo.scaling_groups(db)}
            queue.update(await repo.pending_by_group(db))
            occupied: dict[str, ResourceSlots] = defaultdict(ResourceSlots)
            for agent_id, slots in await repo.held_slots(db):
                occupied[agent_id] = occupied[agent_id] + _slots(slots)
            found = tuple(
                AgentSlots(
                    agent_id=agent_id,
                    scaling_group=group,
                    status=status,
                    capacity=_slots(available),
                    occupied=occupied[agent_id],
                )
                for agent_id, group, status, available in await repo.agents(db)
            )
        return Census(sessions=statuses, pending=queue, agents=found)
