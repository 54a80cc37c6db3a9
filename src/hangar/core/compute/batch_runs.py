"""Batch runs: a batch session's command followed to its end, and batches run in a running
session for the execute API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from hangar.agent.models import BatchSteps, RunOutput
from hangar.core.compute import repo
from hangar.core.compute.lifecycle_host import LifecycleHost
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.restarts import restart_delay, restart_due
from hangar.core.compute.states import SessionResult, SessionStatus
from hangar.core.errors import AgentGone, Conflict, HangarError, Unavailable
from hangar.core.events import EventKind

log = logging.getLogger("hangar.core.compute")

S = SessionStatus


class BatchRuns:
    """The lifecycle's batch runs (part of SessionLifecycle)."""

    async def _run_batch_session(self: LifecycleHost, session: ComputeSession) -> None:
        """A batch-type session: run its startup command (again, as its restart policy says),
        record the result, terminate. When its agent goes away meanwhile, the command runs on
        there: the session stays RUNNING and is followed again once the agent is back
        (:meth:`reconcile`)."""
        self.mark_busy(session.id, True)
        try:
            exit_code = await self._follow_restarts(session)
        except Unavailable as exc:
            log.info("batch session %s: %s; followed again when its agent is back",
                     session.id, exc.message)  # fmt: skip
            return
        finally:
            self.mark_busy(session.id, False)
        result = SessionResult.SUCCESS if exit_code == 0 else SessionResult.FAILURE
        async with self._sessions() as db, db.begin():
            await repo.set_result(db, session.id, result)
        self._publish(
            EventKind.SESSION_SUCCEEDED if exit_code == 0 else EventKind.SESSION_FAILED,
            session,
            "task-finished",
            exit_code,
        )
        current = await self._get(session.id)
        if current is not None and current.status == S.RUNNING:
            await self.terminate(current, reason="task-finished")

    async def _follow_restarts(self: LifecycleHost, session: ComputeSession) -> int | None:
        """The last exit code of the command, run again while the restart policy says so,
        after a back-off; None once the session stopped running meanwhile."""
        rules, loop = self._restart_rules, asyncio.get_running_loop()
        in_a_row = restarts = 0
        while True:
            began = loop.time()
            exit_code = await self._follow_command(session)
            if not restart_due(session.restart_policy, exit_code):
                return exit_code
            if loop.time() - began > rules.max_backoff:
                in_a_row = 0  # it ran a good while: a fresh start
            if rules.limit and in_a_row >= rules.limit:
                log.info("batch session %s: %d restarts in a row, giving up", session.id, in_a_row)
                return exit_code
            current = await self._get(session.id)
            if current is None or current.status != S.RUNNING:
                return exit_code  # destroyed meanwhile: no restart to announce
            self._publish(EventKind.SESSION_RESTARTING, session, "main-process-exited", exit_code)
            await asyncio.sleep(restart_delay(rules, in_a_row))
            in_a_row, restarts = in_a_row + 1, restarts + 1
            async with self._sessions() as db, db.begin():
                running = await repo.set_restarts(db, session.id, restarts, exit_code)
            if not running:
                return None
            log.info("batch session %s: command restarted (%d)", session.id, restarts)
            self._publish(EventKind.SESSION_RESTARTED, session, "main-process-exited")

    async def _follow_command(self: LifecycleHost, session: ComputeSession) -> int | None:
        """The exit code of a batch session's command (None: it ended without one). While
        its agent cannot be reached the run is asked for again (it goes on there, and the
        agent hands on the same run). Raises Unavailable once the agent is disconnected."""
        assert session.agent_id is not None and session.startup_command
        steps = BatchSteps(exec=session.startup_command)
        wait = 0.2
        while True:
            client = self._agents.client(session.agent_id)
            exit_code: int | None = None
            try:
                async for output in client.run_batch(session.id, steps):
                    if output.kind in ("finished", "exec-timeout"):
                        exit_code = output.exit_code
                return exit_code
            except (AgentGone, Unavailable) as exc:
                log.info("batch session %s: %s", session.id, exc.message)
            except HangarError as exc:
                log.warning("batch session %s failed to run: %s", session.id, exc.message)
                return None
            await asyncio.sleep(wait)
            wait = min(wait * 2, 5.0)
            current = await self._get(session.id)
            if current is None or current.status != S.RUNNING:
                return None

    async def stream_batch(
        self: LifecycleHost, session: ComputeSession, steps: BatchSteps
    ) -> AsyncIterator[RunOutput]:
        """Run a batch in a running session, yielding RunOutput records (execute API)."""
        if session.status != S.RUNNING or session.agent_id is None:
            raise Conflict("The session is not running.")
        self.mark_busy(session.id, True)
        try:
            async for output in self._agents.client(session.agent_id).run_batch(session.id, steps):
                yield output
        finally:
            self.mark_busy(session.id, False)
