"""Manager control for superadmins: status with session counts, freeze (optionally killing
every session first), unfreeze, announcements and scheduler operations.

A frozen manager refuses new sessions (``ServerFrozen``, raised by the compute service) and
GraphQL mutations; running sessions keep running unless the freeze asked to kill them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.admin.agents import AgentAdmin
from hangar.core.compute import repo
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.states import SessionStatus
from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.identity.directory import require_superadmin
from hangar.core.manager.service import ManagerService, ManagerStatus
from hangar.core.principal import Principal
from hangar.db.engine import DbSession

log = logging.getLogger("hangar.core.manager")

DEAD = (SessionStatus.TERMINATED.value, SessionStatus.CANCELLED.value)
SCHEDULER_OPS = ("include-agents", "exclude-agents")


class ManagerControl:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        manager: ManagerService,
        lifecycle: SessionLifecycle,
        agents: AgentAdmin,
    ) -> None:
        self._sessions = sessions
        self._manager = manager
        self._lifecycle = lifecycle
        self._agents = agents

    async def active_sessions(self) -> int:
        """Sessions that are neither finished nor failed (``freeze --wait`` polls this)."""
        active = [s for s in SessionStatus if s.value not in (*DEAD, SessionStatus.ERROR.value)]
        async with self._sessions() as db:
            return await repo.count_with_status(db, active)

    async def set_status(self, caller: Principal, status: str, *, force_kill: bool = False) -> None:
        """Freeze or unfreeze; ``force_kill`` with a freeze terminates every live session."""
        require_superadmin(caller)
        new = await self._manager.set_status(status)
        if new == ManagerStatus.FROZEN and force_kill:
            await self.kill_all()

    async def kill_all(self) -> int:
        """Terminate every live session (each failure is logged, the rest go on)."""
        live = [s for s in SessionStatus if s.value not in (*DEAD, SessionStatus.TERMINATING.value)]
        async with self._sessions() as db:
            rows = await repo.with_status(db, live)
        results = await asyncio.gather(
            *(
                self._lifecycle.terminate(session, reason="force-terminated", forced=True)
                for session in rows
            ),
            return_exceptions=True,
        )
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, HangarError):
                log.warning("could not terminate session %s: %s", row.id, result)
            elif isinstance(result, BaseException):
                log.error("could not terminate session %s", row.id, exc_info=result)
        return len(rows)

    async def scheduler_operation(self, caller: Principal, op: str, args: Sequence[str]) -> None:
        """``include-agents`` / ``exclude-agents``: let agents take new sessions or not."""
        require_superadmin(caller)
        if op not in SCHEDULER_OPS:
            raise InvalidRequest(f"Unknown scheduler operation: {op}")
        if not isinstance(args, list | tuple) or not all(isinstance(a, str) for a in args):
            raise InvalidRequest("args must be a list of agent ids")
        await self._agents.set_schedulable(caller, list(args), op == "include-agents")
        if op == "include-agents":
            self._lifecycle.nudge()
