"""After an agent (re)connects: every session on it is taken on its restart path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Collection

from hangar.core.compute import repo
from hangar.core.compute.lifecycle_host import LifecycleHost
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.session_control import keep_console_log
from hangar.core.compute.states import HOLDS_RESOURCES, SessionStatus, SessionType
from hangar.core.errors import Conflict, HangarError
from hangar.core.loops import swallowed

log = logging.getLogger("hangar.core.compute")

S = SessionStatus


class AgentRecovery:
    """The lifecycle's recovery from agent restarts (part of SessionLifecycle)."""

    async def recover(
        self: LifecycleHost, agent_id: str, running: Collection[uuid.UUID] = ()
    ) -> None:
        """After a restart of ``agent_id``, which re-adopted the kernels ``running``: see
        :meth:`reconcile`."""
        await self.reconcile(agent_id, running=running)

    async def reconcile(
        self: LifecycleHost, agent_id: str, *, running: Collection[uuid.UUID]
    ) -> None:
        """After ``agent_id`` (re)connected running the kernels ``running``: destroy kernels
        of sessions that ended meanwhile, then take every session of the agent on its restart
        path (:meth:`_restart_path`). A session whose path fails is logged and counted."""
        async with self._sessions() as db:
            sessions = await repo.with_status(db, sorted(HOLDS_RESOURCES), agent_id=agent_id)
        stray = set(running) - {s.id for s in sessions}
        if stray:
            client = self._agents.client(agent_id)
            for kernel_id in sorted(stray):
                log.info("destroying kernel %s: its session ended while its agent was away",
                         kernel_id)  # fmt: skip
                if await self._get(kernel_id) is not None:  # its log, unless kept as it ended
                    await keep_console_log(self, agent_id, kernel_id, replace=False)
                with contextlib.suppress(HangarError):
                    await client.destroy_kernel(kernel_id)
        # Awaited, not spawned: a RUNNING session must have its kernel before requests come.
        results = await asyncio.gather(
            *(self._restart_path(s, alive=s.id in running) for s in sessions),
            return_exceptions=True,
        )
        for session, result in zip(sessions, results, strict=True):
            if isinstance(result, BaseException):
                swallowed(f"restart-path {session.status}", result)

    async def _restart_path(self: LifecycleHost, session: ComputeSession, *, alive: bool) -> None:
        """What a session in each status becomes after its agent came back (``alive``: its
        kernel lives on there). TERMINATING: the termination finishes. SCHEDULED: it starts.
        PREPARING, PULLING, RESTARTING: with a kernel it is RUNNING, without one its kernel
        is created again. RUNNING: it keeps running (a batch session's command is followed
        again), or, with its kernel gone, it fails with the reason."""
        if session.status == S.TERMINATING:
            await self._finish_termination(session, "agent-restarted")
        elif session.status == S.SCHEDULED:
            await self._start(session.id)
        elif alive:
            await self._kept_across_reconnect(session)
        elif session.status == S.RUNNING:
            await self._fail(session, "kernel-lost: its processes ended while the agent was down")
        else:
            await self._restart_after_agent_restart(session)

    async def _kept_across_reconnect(self: LifecycleHost, session: ComputeSession) -> None:
        if session.status in (S.PREPARING, S.PULLING, S.RESTARTING):
            with contextlib.suppress(Conflict):
                await self._move(session, [S.PREPARING, S.PULLING, S.RESTARTING], S.RUNNING,
                                 started_at=session.started_at or self._clock.now())  # fmt: skip
        self.touch(session.id)
        self._follow_batch(session)

    def _follow_batch(self: LifecycleHost, session: ComputeSession) -> None:
        """A batch session's command runs (again, or on, where it outlived the server) and
        its end terminates the session."""
        if session.session_type == SessionType.BATCH and session.id not in self._busy:
            self._spawn(self._run_batch_session(session))

    async def _restart_after_agent_restart(self: LifecycleHost, session: ComputeSession) -> None:
        """Create the kernel again of a session that was being prepared or restarted."""
        assert session.agent_id is not None
        try:
            if session.status == S.PULLING:
                await self._move(session, S.PULLING, S.PREPARING)
            creation = await self._creation(session)
            client = self._agents.client(session.agent_id)
            with contextlib.suppress(HangarError):  # leftovers of the interrupted start
                await client.destroy_kernel(session.id)
            await client.create_kernel(creation)
            await self._move(session, [S.PREPARING, S.RESTARTING], S.RUNNING,
                             started_at=session.started_at or self._clock.now())  # fmt: skip
        except Conflict:
            return
        except HangarError as exc:
            await self._fail(session, f"failed-to-restart: {exc.message}")
            return
        self.touch(session.id)
        self._follow_batch(session)
        log.info("session %s is running again after an agent restart", session.id)

    async def release_agent(self: LifecycleHost, agent_id: str) -> None:
        """On shutdown: let go of the agent (its sessions' processes keep running; the
        pre-started kernels stop)."""
        with contextlib.suppress(HangarError):
            await self._agents.client(agent_id).shutdown()
