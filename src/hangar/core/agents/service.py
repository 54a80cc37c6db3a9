"""The agent registry: which agents exist, what they offer, and how to reach them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import NodeInfo, NodeUsage
from hangar.core.agents import repo
from hangar.core.agents.client import AgentClient
from hangar.core.agents.models import AgentRecord
from hangar.core.clock import Clock
from hangar.core.errors import HangarError, NotFound, Unavailable
from hangar.db.engine import DbSession

USAGE_TIMEOUT = 3.0
REUSE_WITHIN = 0.5  # seconds: how old a read of the ALIVE agents ``alive(reuse=True)`` takes


def slots_to_wire(slots: dict[str, Decimal] | object) -> dict[str, str]:
    assert isinstance(slots, dict)
    return {
        k: format(v.normalize(), "f") if isinstance(v, Decimal) else str(v)
        for k, v in slots.items()
    }


class AgentService:
    def __init__(self, sessions: async_sessionmaker[DbSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._clients: dict[str, AgentClient] = {}
        # The last read of the ALIVE agents: (monotonic time, generation, records). A
        # registration, disconnection or loss here bumps the generation, which voids it.
        self._generation = 0
        self._last_read: tuple[float, int, list[AgentRecord]] | None = None

    def client(self, agent_id: str) -> AgentClient:
        """The connection to an agent. Raises Unavailable when it is not connected."""
        client = self._clients.get(agent_id)
        if client is None:
            raise Unavailable(f"Agent {agent_id} is not connected.")
        return client

    async def usage(self, agent_id: str) -> NodeUsage | None:
        """The agent host's use now; None when the agent is not connected or does not
        answer within ``USAGE_TIMEOUT`` seconds (a LOST agent has no current figures)."""
        with contextlib.suppress(HangarError, TimeoutError):
            return await asyncio.wait_for(self.client(agent_id).usage(), USAGE_TIMEOUT)
        return None

    @property
    def connected(self) -> list[str]:
        return sorted(self._clients)

    async def register(
        self, client: AgentClient, *, scaling_group: str = "default", info: NodeInfo | None = None
    ) -> NodeInfo:
        """Record an agent's inventory (``info``, else asked of the agent) and mark it alive
        (idempotent)."""
        info = info or await client.info()
        now = self._clock.now()
        devices = [{**asdict(d), "shares": str(d.shares)} for d in info.devices]
        inventory = {
            "available_slots": slots_to_wire(dict(info.slots)),
            "devices": devices,
            "addr": info.addr,
            "architecture": info.architecture,
            "version": info.version,
            "compute_plugins": {"cuda": {"devices": len(devices)}} if devices else {},
        }
        async with self._sessions() as db, db.begin():
            await repo.register(db, info.agent_id, scaling_group, now, inventory)
        self._clients[info.agent_id] = client
        self._generation += 1
        return info

    def disconnect(self, agent_id: str) -> None:
        """Forget how to reach the agent (its row stays; ``mark_lost`` ages it out)."""
        self._clients.pop(agent_id, None)
        self._generation += 1

    async def mark_lost(self, *, older_than: float) -> list[str]:
        """Mark LOST every ALIVE agent that is not connected and was last heard of more than
        ``older_than`` seconds ago; returns their ids."""
        now = self._clock.now()
        cutoff = now - timedelta(seconds=older_than)
        async with self._sessions() as db, db.begin():
            lost = await repo.mark_lost(db, cutoff, set(self._clients), now)
        if lost:
            self._generation += 1
        return lost

    async def heartbeat(self, agent_id: str) -> None:
        async with self._sessions() as db, db.begin():
            if not await repo.heartbeat(db, agent_id, self._clock.now()):
                raise NotFound("agent")

    async def is_alive(self, agent_id: str) -> bool:
        """Whether ``agent_id`` is ALIVE for the database: connected to this or another
        server process that keeps its heartbeat fresh (:meth:`refresh_connected`)."""
        async with self._sessions() as db:
            return await repo.is_alive(db, agent_id)

    async def refresh_connected(self) -> None:
        """Renew the heartbeat of every agent connected to this process (the embedded one
        too), so that other server processes sharing the database never age it out."""
        if self._clients:
            async with self._sessions() as db, db.begin():
                await repo.refresh(db, list(self._clients), self._clock.now())

    async def alive(self, *, anywhere: bool = False, reuse: bool = False) -> list[AgentRecord]:
        """Agents that are ALIVE and connected to this process (a row left ALIVE by an
        earlier run of the manager is not, until its agent reports again); ``anywhere``:
        also those connected to other server processes sharing the database. ``reuse``:
        the previous read will do when it is younger than ``REUSE_WITHIN`` seconds and no
        agent came, went or was lost here since (a create reads them, then the scheduling
        pass it wakes takes the same list instead of a second query)."""
        last = self._last_read
        now = time.monotonic()
        if (
            reuse
            and last is not None
            and last[1] == self._generation
            and now - last[0] < REUSE_WITHIN
        ):
            records = last[2]
        else:
            generation = self._generation
            async with self._sessions() as db:
                records = await repo.alive(db)
            self._last_read = (now, generation, records)
        return [r for r in records if anywhere or r.id in self._clients]
