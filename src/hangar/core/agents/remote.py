"""Remote agents (``hangar agent --manager URL``): registration by heartbeat, reconciliation of
their kernels with the sessions they should run, and LOST detection.

An agent's first heartbeat (or its first after it was LOST or restarted, or from a new URL)
registers it:
the manager calls the agent back for its inventory (which proves the URL and the token), then
destroys kernels the agent runs for sessions that ended meanwhile and starts the sessions that
should run there but whose kernels are gone (an agent restart keeps their scratch dirs). Later
heartbeats only refresh its liveness. An agent silent for ``lost_after`` seconds is LOST: no
new sessions go to it, and calls for its sessions fail with "not connected" until it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hangar.agent.errors import AgentError as NodeAgentError
from hangar.agent.rpc.client import AgentUnreachable, NodeProxy
from hangar.core.agents.local import LocalAgentClient
from hangar.core.agents.service import AgentService
from hangar.core.clock import Clock
from hangar.core.errors import (
    AgentError,
    AgentGone,
    AuthFailed,
    Conflict,
    HangarError,
    InvalidRequest,
)
from hangar.core.loops import swallowed

log = logging.getLogger("hangar.core.agents")


@dataclass(frozen=True, slots=True)
class Beat:
    """One heartbeat as the face parsed it."""

    agent_id: str
    url: str
    boot: str  # the agent process's start id
    scaling_group: str
    kernels: frozenset[uuid.UUID]


class AgentSessions(Protocol):
    """The sessions side of an agent's (re)connection (the compute lifecycle)."""

    async def reconcile(self, agent_id: str, *, running: Collection[uuid.UUID]) -> None:
        """Bring the sessions placed on ``agent_id`` in line with the kernels it runs."""


@dataclass
class _Remote:
    url: str
    boot: str
    proxy: NodeProxy
    last_beat: float  # monotonic


class RemoteLinks:
    """The manager's connections to its remote agents by id, for the calls beyond the
    node's own (:class:`RemoteAgents` opens and closes them)."""

    def __init__(self) -> None:
        self.proxies: dict[str, NodeProxy] = {}

    def is_remote(self, agent_id: str) -> bool:
        return agent_id in self.proxies

    async def ship_run(self, agent_id: str, key: str, kernel_id: uuid.UUID, archive: bytes) -> Path:
        """Hand a queued task's run directory to the remote agent ``agent_id``; returns its
        path there. Raises AgentGone (not connected, or it did not answer), AgentError."""
        proxy = self.proxies.get(agent_id)
        if proxy is None:
            raise AgentGone(f"Agent {agent_id} is not connected.")
        try:
            return Path(await proxy.ship_run(key, kernel_id, archive))
        except AgentUnreachable as exc:
            raise AgentGone(str(exc)) from exc
        except NodeAgentError as exc:
            raise AgentError(f"Agent {agent_id} refused the run's files: {exc}") from exc


class RemoteAgents:
    def __init__(
        self,
        agents: AgentService,
        lifecycle: AgentSessions,
        clock: Clock,
        *,
        token: str,
        lost_after: float,
        links: RemoteLinks | None = None,
    ) -> None:
        """``links``: where the connections to the agents are kept for others to use."""
        self._agents, self._lifecycle, self._clock = agents, lifecycle, clock
        self._token, self._lost_after = token, lost_after
        self._remotes: dict[str, _Remote] = {}
        self._links = links or RemoteLinks()
        self._locks: dict[str, asyncio.Lock] = {}

    def check_token(self, given: str | None) -> None:
        """Raises AuthFailed unless ``given`` is the agent token (constant-time)."""
        if given is None or not hmac.compare_digest(given.encode(), self._token.encode()):
            raise AuthFailed("A valid agent token is required.")

    async def heartbeat(self, beat: Beat) -> None:
        """Register the agent when it is new to this manager, else refresh its liveness."""
        lock = self._locks.setdefault(beat.agent_id, asyncio.Lock())
        async with lock:
            remote = self._remotes.get(beat.agent_id)
            if remote is not None and (remote.url, remote.boot) == (beat.url, beat.boot):
                remote.last_beat = self._clock.monotonic()
                await self._agents.heartbeat(beat.agent_id)
                return
            if beat.agent_id in self._agents.connected and remote is None:
                raise Conflict(f"Agent id {beat.agent_id} is taken by this manager's own agent.")
            silent = self._clock.monotonic() - remote.last_beat if remote else 0.0
            if remote is not None and remote.url != beat.url and silent < self._lost_after:
                raise Conflict(
                    f"Agent {beat.agent_id} is alive at {remote.url}; another agent cannot take "
                    "its id until it is lost."
                )
            await self._register(beat)

    async def _register(self, beat: Beat) -> None:
        await self._drop(beat.agent_id)
        proxy = NodeProxy(beat.url, self._token, beat.agent_id)
        client = LocalAgentClient(proxy)
        try:
            # The call back proves the URL and the token; the id must be the one reported
            # (checked before registering: no other agent's connection may be replaced).
            info = await client.info()
            if info.agent_id != beat.agent_id:
                raise InvalidRequest(
                    f"The agent at {beat.url} calls itself {info.agent_id}, not {beat.agent_id}."
                )
            await self._agents.register(client, scaling_group=beat.scaling_group, info=info)
        except HangarError:
            await proxy.aclose()
            raise
        self._remotes[beat.agent_id] = _Remote(beat.url, beat.boot, proxy, self._clock.monotonic())
        self._links.proxies[beat.agent_id] = proxy
        log.info("remote agent %s registered from %s", beat.agent_id, beat.url)
        await self._lifecycle.reconcile(beat.agent_id, running=beat.kernels)

    async def _drop(self, agent_id: str) -> None:
        remote = self._remotes.pop(agent_id, None)
        self._links.proxies.pop(agent_id, None)
        if remote is not None:
            self._agents.disconnect(agent_id)
            await remote.proxy.aclose()

    async def watch(self, every: float) -> None:
        """Mark agents LOST once silent for ``lost_after`` seconds (also rows left ALIVE by a
        previous run of the manager whose agents never came back)."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.sweep()
            except Exception as exc:  # the next pass tries again
                swallowed("remote-agents-pass", exc)

    async def sweep(self) -> None:
        now = self._clock.monotonic()
        for agent_id, remote in list(self._remotes.items()):
            if now - remote.last_beat > self._lost_after:
                log.warning(
                    "remote agent %s is lost (silent %.0f s)", agent_id, now - remote.last_beat
                )
                await self._drop(agent_id)
        await self._agents.refresh_connected()
        await self._agents.mark_lost(older_than=self._lost_after)

    async def close(self) -> None:
        for agent_id in list(self._remotes):
            with contextlib.suppress(Exception):
                await self._drop(agent_id)
