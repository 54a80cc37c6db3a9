"""The accelerators of the live agents, by model and scaling group, with how many are free.

What a GPU catalogue is built from (the GPU-cloud face's ``/v2/vms/types``): each device as
its agent reported it (NVML, or the configured fake inventory), and a device counts as free
when no session that holds resources has any share of it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.agents import repo as agents_repo
from hangar.core.compute import repo as compute_repo
from hangar.core.scaling import repo as scaling_repo
from hangar.db.engine import DbSession


@dataclass(frozen=True, slots=True)
class AcceleratorGroup:
    """The devices of one model (and memory size) in one scaling group."""

    model: str
    memory_bytes: int
    scaling_group: str
    total: int
    free: int
    group_description: str = ""  # what an administrator set as the group's description


def _device_id(device: dict[str, Any]) -> str:
    return str(device.get("id") or device.get("uuid") or device.get("index"))


class Accelerators:
    """The scoped read the faces get (they never hold the sessionmaker)."""

    def __init__(self, sessions: async_sessionmaker[DbSession]) -> None:
        self._sessions = sessions

    async def groups(self) -> list[AcceleratorGroup]:
        return await accelerator_groups(self._sessions)


async def accelerator_groups(sessions: async_sessionmaker[DbSession]) -> list[AcceleratorGroup]:
    """Every model × scaling group of the ALIVE, schedulable agents, sorted."""
    async with sessions() as db:
        agents = await agents_repo.alive(db)
        holding = await compute_repo.holding_resources(db)
        described = {g.name: g.description for g in await scaling_repo.find(db)}
    used: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for session in holding:
        for alloc in session.device_allocations:
            used[(str(session.agent_id), str(alloc.get("device")))] += Decimal(
                str(alloc.get("shares", 0))
            )
    counts: dict[tuple[str, int, str], list[int]] = defaultdict(lambda: [0, 0])
    for agent in agents:
        if not agent.schedulable:
            continue
        for device in agent.devices:
            model = str(device.get("model", ""))
            key = (model, int(device.get("memory_bytes", 0)), agent.scaling_group)
            counts[key][0] += 1
            if used[(agent.id, _device_id(device))] <= 0:
                counts[key][1] += 1
    return [
        AcceleratorGroup(model, memory, group, total, free, described.get(group) or "")
        for (model, memory, group), (total, free) in sorted(counts.items())
    ]
