"""What the parts of the session lifecycle (:mod:`.lifecycle`, :mod:`.session_control`,
:mod:`.batch_runs`, :mod:`.recovery`, :mod:`.reclaiming`) share: the state and the steps of
:class:`~hangar.core.compute.lifecycle.SessionLifecycle`, which is made of them."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import KernelRequest
from hangar.core.agents.service import AgentService
from hangar.core.clock import Clock
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.restarts import RestartRules
from hangar.core.compute.states import SessionStatus
from hangar.core.compute.stats import Ended
from hangar.core.compute.termination import TerminationPlan
from hangar.core.events import EventKind
from hangar.core.reconcile import Leases, Wakeups
from hangar.db.engine import DbSession


class LifecycleHost(Protocol):
    _sessions: async_sessionmaker[DbSession]
    _clock: Clock
    _agents: AgentService
    _leases: Leases
    _wakeups: Wakeups
    _idle_timeout: float
    _restart_rules: RestartRules
    _busy: set[uuid.UUID]
    _last_activity: dict[uuid.UUID, float]

    def nudge(self) -> None: ...

    def touch(self, session_id: uuid.UUID) -> None: ...

    def mark_busy(self, session_id: uuid.UUID, busy: bool) -> None: ...

    def _spawn(self, coro: Any) -> None: ...

    async def _get(self, session_id: uuid.UUID) -> ComputeSession | None: ...

    async def _move(
        self,
        session: ComputeSession,
        old: SessionStatus | list[SessionStatus],
        new: SessionStatus,
        **changes: Any,
    ) -> None: ...

    def _publish(
        self,
        kind: EventKind,
        session: ComputeSession,
        reason: str = "",
        exit_code: int | None = None,
    ) -> None: ...

    async def _start(self, session_id: uuid.UUID, placed: ComputeSession | None = None) -> None: ...

    async def _creation(self, session: ComputeSession) -> KernelRequest: ...

    async def _fail(self, session: ComputeSession, info: str) -> None: ...

    async def terminate(
        self, session: ComputeSession, *, reason: str, forced: bool = False
    ) -> Ended: ...

    async def _termination_plan(self, session: ComputeSession) -> TerminationPlan: ...

    async def _finish_termination(self, session: ComputeSession, reason: str) -> Ended: ...

    async def _run_batch_session(self, session: ComputeSession) -> None: ...

    async def _follow_restarts(self, session: ComputeSession) -> int | None: ...

    async def _follow_command(self, session: ComputeSession) -> int | None: ...

    async def reconcile(self, agent_id: str, *, running: Collection[uuid.UUID]) -> None: ...

    async def _restart_path(self, session: ComputeSession, *, alive: bool) -> None: ...

    async def _kept_across_reconnect(self, session: ComputeSession) -> None: ...

    def _follow_batch(self, session: ComputeSession) -> None: ...

    async def _restart_after_agent_restart(self, session: ComputeSession) -> None: ...

    async def _reclaim(self, session: ComputeSession, reason: str) -> None: ...
