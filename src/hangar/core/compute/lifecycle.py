"""The session lifecycle loop: schedule pending sessions, start and stop kernels.

One pass: load PENDING sessions, agents and keypair usage; ask the pure scheduler for a plan;
move each assigned session PENDING -> SCHEDULED (compare-and-set); start its kernel in a task
(SCHEDULED -> PREPARING -> RUNNING). A nudge wakes the loop early; a periodic pass catches
misses and reclaims idle and expired sessions. Agent calls stay outside transactions.

:class:`SessionLifecycle` is made of parts that share its state (:mod:`.lifecycle_host`):
stopping and control in :mod:`.session_control`, batch runs in :mod:`.batch_runs`, agent
restarts in :mod:`.recovery`, reclaiming and hand-offs in :mod:`.reclaiming`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import KernelRequest
from hangar.core.agents.service import AgentService
from hangar.core.clock import Clock
from hangar.core.compute import repo
from hangar.core.compute.batch_runs import BatchRuns
from hangar.core.compute.events import session_event
from hangar.core.compute.kernel_request import KernelExtras, PullCredentials, kernel_request
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.placement import build_inputs
from hangar.core.compute.pulls import pull_progress
from hangar.core.compute.reclaiming import Reclaiming
from hangar.core.compute.recovery import AgentRecovery
from hangar.core.compute.restarts import RestartRules
from hangar.core.compute.session_control import SessionControl, keep_console_log
from hangar.core.compute.states import HOLDS_RESOURCES, SessionStatus, SessionType
from hangar.core.errors import Conflict, HangarError
from hangar.core.events import EventBus, EventKind
from hangar.core.images.service import ImageService
from hangar.core.loops import swallowed
from hangar.core.reconcile import Leases, NoWakeups, Wakeups, process_identity
from hangar.core.scheduler import Assignment, Verdict, check_dependencies, get_policy, schedule
from hangar.db.engine import DbSession
from hangar.db.sqlite_inline import inline_writes

log = logging.getLogger("hangar.core.compute")

S = SessionStatus


class SessionLifecycle(SessionControl, BatchRuns, AgentRecovery, Reclaiming):
    """The loop (passes of scheduling, reclaiming, hand-offs), placing and starting; the
    rest of a session's moves come from its parts."""

    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        *,
        agents: AgentService,
        images: ImageService,
        bus: EventBus,
        policy: str = "fifo",
        idle_timeout: float = 1800,
        kernel_extras: KernelExtras | None = None,
        pull_credentials: PullCredentials | None = None,
        pass_interval: float = 1.0,
        leases: Leases | None = None,
        wakeups: Wakeups | None = None,
        restart_rules: RestartRules | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._agents = agents
        self._images = images
        self._bus = bus
        self._policy = get_policy(policy)
        self._interval = pass_interval
        self._leases = leases or Leases(process_identity())
        self._wakeups = wakeups or NoWakeups()
        self._handoff_due = False
        self._idle_timeout = idle_timeout
        self._restart_rules = restart_rules or RestartRules()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_activity: dict[uuid.UUID, float] = {}
        self._busy: set[uuid.UUID] = set()
        self._extras = kernel_extras
        self._pulls = pull_credentials  # a session's own registry login (pods)

    # Loop ------------------------------------------------------------------------------

    def nudge(self) -> None:
        """Run a pass now, here and in the other server processes sharing the database."""
        self._wake.set()
        self._wakeups.wake_others()

    @property
    def wakeups(self) -> Wakeups:
        return self._wakeups

    def _woken_elsewhere(self) -> None:
        self._handoff_due = True  # another process may have handed a termination over
        self._wake.set()

    async def run(self) -> None:
        """Run passes until cancelled; a failed pass is logged and retried."""
        loop = asyncio.get_running_loop()
        last_reclaim = loop.time()
        await self._wakeups.listen(self._woken_elsewhere)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.schedule_pass()
                if self._handoff_due:
                    self._handoff_due = False
                    await self.handoff_pass()
                # Reclaiming is periodic work: a nudge (a new or ended session) only needs
                # the scheduling pass, which keeps session start-up free of the extra query.
                if loop.time() - last_reclaim >= self._interval:
                    last_reclaim = loop.time()
                    await self.reclaim_pass()
                    await self.handoff_pass()
            except Exception as exc:
                swallowed("lifecycle-pass", exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            swallowed("session-task", exc)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def touch(self, session_id: uuid.UUID) -> None:
        """Record activity (a query, a run) so the idle timeout starts over."""
        self._last_activity[session_id] = self._clock.monotonic()

    def mark_busy(self, session_id: uuid.UUID, busy: bool) -> None:
        """A session with a run in progress is never idle."""
        (self._busy.add if busy else self._busy.discard)(session_id)
        self.touch(session_id)

    # Scheduling ------------------------------------------------------------------------

    async def schedule_pass(self) -> int:
        """Place what fits; returns how many sessions were scheduled."""
        async with self._sessions() as db:
            pending, with_dependencies = await repo.pending_sessions(db)
            if not pending:
                return 0
            holding = await repo.holding_resources(db)
            agents = await self._agents.alive(reuse=True)  # a create's own read, if just made
            inputs = await build_inputs(
                db, pending, holding, agents, self._images, with_dependencies
            )
        doomed = {
            p.id: checked.reason
            for p in inputs.pending
            if p.dependencies
            and (checked := check_dependencies(p.dependencies)).verdict is Verdict.FAILED
        }
        for session_id, reason in doomed.items():
            await self._cancel_doomed(inputs.by_id[session_id], reason or "dependency failed")
        candidates = [p for p in inputs.pending if p.id not in doomed]
        plan = schedule(
            candidates, inputs.agents, inputs.usage, self._policy, now=self._clock.now()
        )
        scheduled = 0
        for assignment in plan.assignments:
            placed = await self._place(inputs.by_id[assignment.session_id], assignment)
            if placed is not None:
                scheduled += 1
                self._spawn(self._start(placed.id, placed))
        await self._record_reasons(inputs.by_id, plan.reasons())
        return scheduled

    async def _place(
        self, session: ComputeSession, assignment: Assignment
    ) -> ComputeSession | None:
        """Move ``session`` PENDING -> SCHEDULED -> PREPARING on its assigned agent in one
        transaction (its kernel is created next, at once); returns it as it is now, or None
        when it was cancelled meanwhile."""
        devices = [
            {"device": d.device_id, "shares": str(d.shares), "whole": d.whole}
            for d in assignment.devices
        ]
        placement: dict[str, Any] = {
            "agent_id": assignment.agent_id,
            "occupied_slots": assignment.allocated.to_wire(),
            "device_allocations": devices,
            "status_info": None,
            "status_data": None,
        }
        now = self._clock.now()
        try:
            with inline_writes():
                async with self._sessions() as db, db.begin():
                    await repo.transition(
                        db, session.id, S.PENDING, S.PREPARING, when=now, through=S.SCHEDULED,
                        **placement,
                    )  # fmt: skip
        except Conflict:
            return None
        self._publish(EventKind.SESSION_SCHEDULED, session)
        self._publish(EventKind.SESSION_PREPARING, session)
        return dataclasses.replace(session, status=S.PREPARING, **placement)

    async def _cancel_doomed(self, session: ComputeSession, reason: str) -> None:
        """A dependency of ``session`` failed: it can never start."""
        try:
            await self._move(
                session, S.PENDING, S.CANCELLED, terminated_at=self._clock.now(),
                status_info=reason[:256], status_data={"scheduler": {"msg": reason}},
            )  # fmt: skip
        except Conflict:
            return
        self._publish(EventKind.SESSION_CANCELLED, session, "dependency-failed")
        self.nudge()  # sessions depending on this one are doomed too

    async def _record_reasons(
        self, by_id: dict[uuid.UUID, ComputeSession], reasons: dict[uuid.UUID, str]
    ) -> None:
        changed = {sid: r for sid, r in reasons.items() if by_id[sid].status_info != r}
        if not changed:
            return
        async with self._sessions() as db, db.begin():
            for session_id, reason in changed.items():
                await repo.set_pending_reason(db, session_id, reason)

    # Starting --------------------------------------------------------------------------

    async def _start(self, session_id: uuid.UUID, placed: ComputeSession | None = None) -> None:
        """Start a SCHEDULED session's kernel (``placed``: the session as just placed, in
        PREPARING already, which saves reading and moving it again)."""
        session = placed if placed is not None else await self._get(session_id)
        if session is None or session.agent_id is None:
            return
        try:
            if session.status == S.SCHEDULED:
                await self._move(session, S.SCHEDULED, S.PREPARING)
                self._publish(EventKind.SESSION_PREPARING, session)
            creation = await self._creation(session)
            agent = self._agents.client(session.agent_id)
            async with pull_progress(agent, creation.image, partial(self._preparing, session.id)):
                await agent.create_kernel(creation)
            self.touch(session.id)  # the idle clock starts before anyone can see RUNNING
            pulled = {"status_info": None} if creation.image is not None else {}  # its progress
            await self._move(
                session, S.PREPARING, S.RUNNING, started_at=self._clock.now(), **pulled
            )
        except Conflict:
            self._last_activity.pop(session.id, None)
            return  # terminated while starting: the terminator cleans up
        except HangarError as exc:
            self._last_activity.pop(session.id, None)
            await self._fail(session, f"failed-to-start: {exc.message}")
            return
        self._publish(EventKind.SESSION_STARTED, session)
        if session.session_type == SessionType.BATCH:
            self._spawn(self._run_batch_session(session))

    async def _preparing(self, session_id: uuid.UUID, info: str) -> None:
        async with self._sessions() as db, db.begin():
            await repo.set_preparing_info(db, session_id, info)

    async def _creation(self, session: ComputeSession) -> KernelRequest:
        return await kernel_request(self._images, self._extras, session, self._pulls)

    async def _fail(self, session: ComputeSession, info: str) -> None:
        log.warning("session %s failed: %s", session.id, info)
        with contextlib.suppress(Conflict):
            await self._move(
                session,
                list(HOLDS_RESOURCES),
                S.ERROR,
                status_info=info[:256],
                terminated_at=self._clock.now(),
            )
        if session.agent_id is not None:
            with contextlib.suppress(HangarError):
                await self._agents.client(session.agent_id).destroy_kernel(session.id)
            await keep_console_log(self, session.agent_id, session.id)
        self._publish(EventKind.SESSION_FAILED, session, info)
        self.nudge()  # sessions that depend on this one are cancelled

    # Helpers ---------------------------------------------------------------------------

    async def _get(self, session_id: uuid.UUID) -> ComputeSession | None:
        async with self._sessions() as db:
            return await repo.get(db, session_id)

    async def _move(
        self, session: ComputeSession, old: S | list[S], new: S, **changes: Any
    ) -> None:
        with inline_writes():  # one row by its key: a short write, on the loop's thread
            async with self._sessions() as db, db.begin():
                await repo.transition(db, session.id, old, new, when=self._clock.now(), **changes)

    def _publish(
        self,
        kind: EventKind,
        session: ComputeSession,
        reason: str = "",
        exit_code: int | None = None,
    ) -> None:
        self._bus.publish(session_event(kind, session, self._clock.now(), reason, exit_code))
