"""Reclaiming: idle and over-age sessions are terminated; terminations handed over by other
server processes are finished."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from hangar.core.compute import repo
from hangar.core.compute.lifecycle_host import LifecycleHost
from hangar.core.compute.models import ComputeSession, OriginKind
from hangar.core.compute.states import SessionStatus
from hangar.core.compute.termination import TerminationPlan as Plan
from hangar.core.compute.termination import plan_termination
from hangar.core.errors import Conflict, HangarError
from hangar.core.reconcile import Reconciler

log = logging.getLogger("hangar.core.compute")
NEVER_IDLE = frozenset({OriginKind.VM, OriginKind.POD})  # run until paused or ended

S = SessionStatus


class Reclaiming:
    """The lifecycle's periodic reclaiming (part of SessionLifecycle)."""

    async def reclaim_pass(self: LifecycleHost) -> None:
        """Terminate sessions idle longer than their policy's idle timeout (the server's
        default when the policy says 0; never VMs) or running longer than its max lifetime."""
        now_mono, now = self._clock.monotonic(), self._clock.now()
        async with self._sessions() as db:
            running = await repo.running_with_limits(db)
        connected = set(self._agents.connected)  # another server process reclaims the rest
        for session, idle_timeout, lifetime in running:
            if session.agent_id not in connected:
                continue
            started = session.started_at or session.created_at
            if lifetime > 0 and (now - started).total_seconds() > lifetime:
                self._spawn(self._reclaim(session, "max-lifetime-reached"))
                continue
            limit = idle_timeout or self._idle_timeout
            if session.id in self._busy or limit <= 0 or session.origin.kind in NEVER_IDLE:
                continue
            last = self._last_activity.setdefault(session.id, now_mono)
            if now_mono - last > limit:
                self._spawn(self._reclaim(session, "idle-timeout"))

    async def handoff_pass(self: LifecycleHost) -> int:
        """Finish the terminations handed to this process: sessions on its agents left
        TERMINATING by another server process (or by one that died while finishing them)."""
        connected = self._agents.connected
        if not connected:
            return 0

        async def claim() -> list[ComputeSession]:
            async with self._sessions() as db, db.begin():
                now = self._clock.now()
                ids = await repo.claim_terminating(db, self._leases, connected, now=now)
            loaded = [await self._get(session_id) for session_id in ids]
            return [s for s in loaded if s is not None]

        async def finish(session: ComputeSession, plan: Plan) -> None:
            if plan is Plan.HERE:
                with contextlib.suppress(Conflict):  # finished meanwhile by its own request
                    await self._finish_termination(session, session.status_info or "terminated")

        async def release(sessions: Sequence[ComputeSession]) -> None:
            async with self._sessions() as db, db.begin():
                await repo.release_leases(db, self._leases, [s.id for s in sessions])

        reconciler: Reconciler[ComputeSession, Plan] = Reconciler(
            "finish-termination",
            claim=claim,
            decide=lambda s: plan_termination(s.agent_id, connected, alive_elsewhere=False),
            apply=finish,
            release=release,
        )
        return await reconciler.run_once()

    async def _reclaim(self: LifecycleHost, session: ComputeSession, reason: str) -> None:
        with contextlib.suppress(HangarError):
            await self.terminate(session, reason=reason)
