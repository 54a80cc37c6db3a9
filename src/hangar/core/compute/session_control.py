"""Stopping and controlling sessions: cancel or terminate (here, or handed to the server
process that holds the agent), restart, suspend and resume, interrupt, read logs."""

from __future__ import annotations

import contextlib
import logging
import uuid

from hangar.agent.models import ContainerStats
from hangar.core.compute.lifecycle_host import LifecycleHost
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.repo.logs import has_log, keep_log, kept_log
from hangar.core.compute.states import DEAD, SessionStatus, SessionType, can_move
from hangar.core.compute.stats import Ended, stats_of, stats_record
from hangar.core.compute.termination import TerminationPlan as Plan
from hangar.core.compute.termination import plan_termination, wait_ended
from hangar.core.errors import Conflict, HangarError
from hangar.core.events import EventKind
from hangar.core.reconcile import Leases

log = logging.getLogger("hangar.core.compute")

S = SessionStatus


class SessionControl:
    """The lifecycle's control of one session at a time (part of SessionLifecycle)."""

    async def terminate(
        self: LifecycleHost, session: ComputeSession, *, reason: str, forced: bool = False
    ) -> Ended:
        """Cancel (PENDING) or terminate a session; returns how it ended. Idempotent-ish:
        a session already terminating is waited for."""
        if session.status == S.PENDING:
            try:
                await self._move(
                    session,
                    S.PENDING,
                    S.CANCELLED,
                    terminated_at=self._clock.now(),
                    status_info=reason,
                )
            except Conflict:
                current = await self._get(session.id)
                if current is None:
                    return Ended(S.CANCELLED)
                return await self.terminate(current, reason=reason, forced=forced)
            self._publish(EventKind.SESSION_CANCELLED, session, reason)
            self.nudge()  # sessions that depend on this one are cancelled
            if session.agent_id is not None:  # resumed, not placed yet: its kept scratch dir
                with contextlib.suppress(HangarError):
                    await self._agents.client(session.agent_id).destroy_kernel(session.id)
            return Ended(S.CANCELLED)
        olds = [status for status in S if can_move(status, S.TERMINATING)]
        plan = await self._termination_plan(session)
        now = self._clock.now()
        lease = Leases.released() if plan is Plan.HAND_OFF else self._leases.held(now)
        try:
            await self._move(session, olds, S.TERMINATING, status_info=reason, **lease)
        except Conflict:
            return Ended(S.TERMINATED)
        self._publish(EventKind.SESSION_TERMINATING, session, reason)
        if plan is Plan.HAND_OFF:  # the process holding the agent finishes it
            self._wakeups.wake_others()
            ended = await wait_ended(self._sessions, session.id)
            return Ended(S.TERMINATED, stats_of(ended.last_stat) if ended else None)
        return await self._finish_termination(session, reason)

    async def _termination_plan(self: LifecycleHost, session: ComputeSession) -> Plan:
        connected = self._agents.connected
        if session.agent_id is None or session.agent_id in connected:
            return Plan.HERE
        alive = await self._agents.is_alive(session.agent_id)
        return plan_termination(session.agent_id, connected, alive_elsewhere=alive)

    async def _finish_termination(
        self: LifecycleHost, session: ComputeSession, reason: str
    ) -> Ended:
        stats: ContainerStats | None = None
        if session.agent_id is not None:
            try:
                stats = await self._agents.client(session.agent_id).destroy_kernel(session.id)
            except HangarError as exc:
                log.warning("destroying kernel %s: %s", session.id, exc.message)
            await keep_console_log(self, session.agent_id, session.id)
        await self._move(
            session, S.TERMINATING, S.TERMINATED, terminated_at=self._clock.now(),
            last_stat=stats_record(stats), **Leases.released(),
        )  # fmt: skip
        self._last_activity.pop(session.id, None)
        self._publish(EventKind.SESSION_TERMINATED, session, reason)
        self.nudge()  # freed resources may let pending sessions start
        return Ended(S.TERMINATED, stats)

    async def restart(self: LifecycleHost, session: ComputeSession) -> None:
        if session.status != S.RUNNING or session.agent_id is None:
            raise Conflict("Only running sessions can be restarted.")
        await self._move(session, S.RUNNING, S.RESTARTING)
        self._publish(EventKind.SESSION_RESTARTING, session, "restarting")
        try:
            await self._agents.client(session.agent_id).restart_kernel(session.id)
        except HangarError as exc:
            await self._fail(session, f"failed-to-restart: {exc.message}")
            raise
        await self._move(session, S.RESTARTING, S.RUNNING)
        self._publish(EventKind.SESSION_RESTARTED, session, "restarting")

    async def suspend(self: LifecycleHost, session: ComputeSession) -> None:
        """Stop a running interactive session's processes and release its slots, keeping
        its scratch dir on its agent (SUSPENDED). Raises Conflict, AgentError."""
        if session.status != S.RUNNING or session.agent_id is None:
            raise Conflict("Only running sessions can be suspended.")
        if session.session_type != SessionType.INTERACTIVE:
            raise Conflict("Only interactive sessions can be suspended.")
        await self._agents.client(session.agent_id).suspend_kernel(session.id)
        try:
            await self._move(session, S.RUNNING, S.SUSPENDED,
                             occupied_slots={}, device_allocations=[])  # fmt: skip
        except Conflict:
            return  # ended meanwhile: its termination removes the kept scratch dir
        self._last_activity.pop(session.id, None)
        self._publish(EventKind.SESSION_SUSPENDED, session, "user-requested")
        self.nudge()  # the freed slots may let pending sessions start

    async def resume(self: LifecycleHost, session: ComputeSession) -> None:
        """Queue a suspended session to be placed again on its agent, where its scratch dir
        is (PENDING); it starts as it was created, with /home/work as it was left."""
        if session.status != S.SUSPENDED:
            raise Conflict("Only suspended sessions can be resumed.")
        await self._move(session, S.SUSPENDED, S.PENDING, status_info=None, status_data=None)
        self._publish(EventKind.SESSION_RESUMED, session, "user-requested")
        self.nudge()

    async def interrupt(self: LifecycleHost, session: ComputeSession) -> None:
        if session.agent_id is not None and session.status == S.RUNNING:
            await self._agents.client(session.agent_id).interrupt(session.id)

    async def output_files(self: LifecycleHost, session: ComputeSession) -> tuple[str, ...] | None:
        """Names of the files under /home/work/.output (None: none, or not readable)."""
        if session.agent_id is None:
            return None
        try:
            names = await self._agents.client(session.agent_id).output_files(session.id)
        except HangarError:
            return None
        return tuple(names) or None

    async def logs(self: LifecycleHost, session: ComputeSession) -> str:
        """The console log: an ended session's as kept here when it ended (its agent may be
        away, or gone), else its agent's."""
        if session.status in DEAD or session.status == S.ERROR:
            async with self._sessions() as db:
                kept = await kept_log(db, session.id)
            if kept is not None:
                return kept
        if session.agent_id is None:
            return ""
        return await self._agents.client(session.agent_id).logs(session.id)


async def keep_console_log(
    host: LifecycleHost, agent_id: str, session_id: uuid.UUID, *, replace: bool = True
) -> None:
    """Keep here the console log of the session whose kernel was just destroyed (its agent
    keeps it too): an ended session's output stays readable while its agent is away.
    ``replace=False``: only when none was kept yet."""
    if not replace:
        async with host._sessions() as db:
            if await has_log(db, session_id):
                return
    try:
        text = await host._agents.client(agent_id).logs(session_id)
    except HangarError as exc:
        log.info("keeping the console log of session %s: %s", session_id, exc.message)
        return
    if text:
        async with host._sessions() as db, db.begin():
            await keep_log(db, session_id, text)
