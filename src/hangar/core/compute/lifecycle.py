"""The session lifecycle loop: schedule pending sessions, start and stop kernels.

One pass: load PENDING sessions, agents and keypair usage; ask the pure scheduler for a plan;
move each assigned session PENDING -> SCHEDULED (compare-and-set); start its kernel in a task
(SCHEDULED -> PREPARING -> RUNNING). A nudge wakes the loop early; a periodic pass catches
misses and reclaims idle and expired sessions. Agent calls stay outside transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import (
    BatchSteps,
    ContainerStats,
    HomeFile,
    KernelRequest,
    MountRequest,
    RunOutput,
)
from hangar.core.agents.service import AgentService
from hangar.core.clock import Clock
from hangar.core.compute import repo
from hangar.core.compute.events import session_event
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.placement import build_inputs
from hangar.core.compute.states import (
    HOLDS_RESOURCES,
    SessionResult,
    SessionStatus,
    SessionType,
    can_move,
)
from hangar.core.compute.stats import Ended, stats_of, stats_record
from hangar.core.compute.termination import TerminationPlan as Plan
from hangar.core.compute.termination import plan_termination, wait_ended
from hangar.core.errors import AgentGone, Conflict, HangarError, Unavailable
from hangar.core.events import EventBus, EventKind
from hangar.core.images.service import ImageService
from hangar.core.loops import swallowed
from hangar.core.reconcile import Leases, NoWakeups, Reconciler, Wakeups, process_identity
from hangar.core.scheduler import Assignment, Verdict, check_dependencies, get_policy, schedule
from hangar.db.engine import DbSession
from hangar.db.sqlite_inline import inline_writes

log = logging.getLogger("hangar.core.compute")


class KernelExtras(Protocol):
    """What a kernel gets besides its image: the session's folder binds and dotfiles (the
    storage plane)."""

    async def kernel_extras(
        self, session: ComputeSession
    ) -> tuple[tuple[MountRequest, ...], tuple[HomeFile, ...]]: ...


S = SessionStatus


class SessionLifecycle:
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
        pass_interval: float = 1.0,
        leases: Leases | None = None,
        wakeups: Wakeups | None = None,
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
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_activity: dict[uuid.UUID, float] = {}
        self._busy: set[uuid.UUID] = set()
        self._extras = kernel_extras

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
            pending = await repo.with_status(db, [S.PENDING])
            if not pending:
                return 0
            holding = await repo.holding_resources(db)
            agents = await self._agents.alive()
            inputs = await build_inputs(db, pending, holding, agents, self._images)
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
            await self._agents.client(session.agent_id).create_kernel(creation)
            self.touch(session.id)  # the idle clock starts before anyone can see RUNNING
            await self._move(session, S.PREPARING, S.RUNNING, started_at=self._clock.now())
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

    async def _creation(self, session: ComputeSession) -> KernelRequest:
        image = await self._images.get(session.image_id)
        slots = session.occupied_slots
        shares = {d["device"]: Decimal(d["shares"]) for d in session.device_allocations}
        whole = tuple(d["device"] for d in session.device_allocations if d.get("whole"))
        extras = await self._extras.kernel_extras(session) if self._extras is not None else ((), ())
        return KernelRequest(
            kernel_id=session.id,
            session_name=session.name,
            interpreter=image.provider.interpreter,
            interpreter_prefix=image.provider.prefix(),
            image_labels=image.labels,
            cpu=Decimal(slots.get("cpu", "1")),
            memory_bytes=int(Decimal(slots.get("mem", "0"))),
            gpu_devices=whole,
            gpu_shares={k: v for k, v in shares.items() if k not in whole},
            environ=session.environ,
            bootstrap_script=session.bootstrap_script,
            mounts=extras[0],
            files=extras[1],
            shmem_bytes=int(shmem) if (shmem := session.resource_opts.get("shmem")) else None,
            disk_bytes=int(disk) if (disk := session.resource_opts.get("disk")) else None,
            interactive=session.session_type == SessionType.INTERACTIVE,
        )

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
        self._publish(EventKind.SESSION_FAILED, session, info)
        self.nudge()  # sessions that depend on this one are cancelled

    async def _run_batch_session(self, session: ComputeSession) -> None:
        """A batch-type session: run its startup command, record the result, terminate.
        When its agent goes away meanwhile, the command runs on there: the session stays
        RUNNING and is followed again once the agent is back (:meth:`reconcile`)."""
        self.mark_busy(session.id, True)
        try:
            exit_code = await self._follow_command(session)
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

    async def _follow_command(self, session: ComputeSession) -> int | None:
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

    # Stopping --------------------------------------------------------------------------

    async def terminate(
        self, session: ComputeSession, *, reason: str, forced: bool = False
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

    async def _termination_plan(self, session: ComputeSession) -> Plan:
        connected = self._agents.connected
        if session.agent_id is None or session.agent_id in connected:
            return Plan.HERE
        alive = await self._agents.is_alive(session.agent_id)
        return plan_termination(session.agent_id, connected, alive_elsewhere=alive)

    async def _finish_termination(self, session: ComputeSession, reason: str) -> Ended:
        stats: ContainerStats | None = None
        if session.agent_id is not None:
            try:
                stats = await self._agents.client(session.agent_id).destroy_kernel(session.id)
            except HangarError as exc:
                log.warning("destroying kernel %s: %s", session.id, exc.message)
        await self._move(
            session, S.TERMINATING, S.TERMINATED, terminated_at=self._clock.now(),
            last_stat=stats_record(stats), **Leases.released(),
        )  # fmt: skip
        self._last_activity.pop(session.id, None)
        self._publish(EventKind.SESSION_TERMINATED, session, reason)
        self.nudge()  # freed resources may let pending sessions start
        return Ended(S.TERMINATED, stats)

    async def restart(self, session: ComputeSession) -> None:
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

    async def suspend(self, session: ComputeSession) -> None:
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

    async def resume(self, session: ComputeSession) -> None:
        """Queue a suspended session to be placed again on its agent, where its scratch dir
        is (PENDING); it starts as it was created, with /home/work as it was left."""
        if session.status != S.SUSPENDED:
            raise Conflict("Only suspended sessions can be resumed.")
        await self._move(session, S.SUSPENDED, S.PENDING, status_info=None, status_data=None)
        self._publish(EventKind.SESSION_RESUMED, session, "user-requested")
        self.nudge()

    async def interrupt(self, session: ComputeSession) -> None:
        if session.agent_id is not None and session.status == S.RUNNING:
            await self._agents.client(session.agent_id).interrupt(session.id)

    async def output_files(self, session: ComputeSession) -> tuple[str, ...] | None:
        """Names of the files under /home/work/.output (None: none, or not readable)."""
        if session.agent_id is None:
            return None
        try:
            names = await self._agents.client(session.agent_id).output_files(session.id)
        except HangarError:
            return None
        return tuple(names) or None

    async def logs(self, session: ComputeSession) -> str:
        if session.agent_id is None:
            return ""
        return await self._agents.client(session.agent_id).logs(session.id)

    # Agent restarts --------------------------------------------------------------------

    async def recover(self, agent_id: str, running: Collection[uuid.UUID] = ()) -> None:
        """After a restart of ``agent_id``, which re-adopted the kernels ``running``: see
        :meth:`reconcile`."""
        await self.reconcile(agent_id, running=running)

    async def reconcile(self, agent_id: str, *, running: Collection[uuid.UUID]) -> None:
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

    async def _restart_path(self, session: ComputeSession, *, alive: bool) -> None:
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

    async def _kept_across_reconnect(self, session: ComputeSession) -> None:
        if session.status in (S.PREPARING, S.PULLING, S.RESTARTING):
            with contextlib.suppress(Conflict):
                await self._move(session, [S.PREPARING, S.PULLING, S.RESTARTING], S.RUNNING,
                                 started_at=session.started_at or self._clock.now())  # fmt: skip
        self.touch(session.id)
        self._follow_batch(session)

    def _follow_batch(self, session: ComputeSession) -> None:
        """A batch session's command runs (again, or on, where it outlived the server) and
        its end terminates the session."""
        if session.session_type == SessionType.BATCH and session.id not in self._busy:
            self._spawn(self._run_batch_session(session))

    async def _restart_after_agent_restart(self, session: ComputeSession) -> None:
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

    async def release_agent(self, agent_id: str) -> None:
        """On shutdown: let go of the agent (its sessions' processes keep running; the
        pre-started kernels stop)."""
        with contextlib.suppress(HangarError):
            await self._agents.client(agent_id).shutdown()

    # Reclaiming ------------------------------------------------------------------------

    async def reclaim_pass(self) -> None:
        """Terminate sessions idle longer than their policy's idle timeout (the server's
        default when the policy says 0) or running longer than its max lifetime."""
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
            if session.id in self._busy or limit <= 0:
                continue
            last = self._last_activity.setdefault(session.id, now_mono)
            if now_mono - last > limit:
                self._spawn(self._reclaim(session, "idle-timeout"))

    async def handoff_pass(self) -> int:
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

    async def _reclaim(self, session: ComputeSession, reason: str) -> None:
        with contextlib.suppress(HangarError):
            await self.terminate(session, reason=reason)

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

    async def stream_batch(
        self, session: ComputeSession, steps: BatchSteps
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
