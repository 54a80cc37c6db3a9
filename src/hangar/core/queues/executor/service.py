"""The executor loop: pops tasks from the queues Hangar serves and runs each as a batch
session of the task's owner, then ends the task as its session ends.

A pass: (1) runs that should stop (``tasks.stop`` said "stopping", or the task left
in_progress) get their session destroyed; (2) runs whose session ended end their task
(exit 0 -> completed, else failed; stopped when asked); (3) while fewer than
``executor_max_running`` runs are live, pop the next entry of each served queue and start it
(:mod:`.dispatch`).
Session events and queue wake-ups trigger a pass at once; without them one runs every
second. What a run is lives in the database (the task in_progress with ``last_worker``
``hangar:<group>``, the session whose origin is the task) and in the run's directory, so a
restarted server adopts the runs it left (:meth:`Executor.recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from pathlib import Path
from typing import Any

from hangar.core.clock import Clock
from hangar.core.compute.service import ComputeService
from hangar.core.compute.states import DEAD, SessionResult
from hangar.core.errors import HangarError, NotFound
from hangar.core.events import Event, EventBus, EventKind, Matcher, SessionChange, Subscription
from hangar.core.identity.service import IdentityService
from hangar.core.queues.executor import plan as p
from hangar.core.queues.executor import runs
from hangar.core.queues.executor import workspace as ws
from hangar.core.queues.executor.dispatch import Dispatch
from hangar.core.queues.executor.endings import Endings
from hangar.core.queues.executor.ledger import RunLedger
from hangar.core.queues.executor.models import (
    SYSTEM,
    QueueFeed,
    Run,
    WorkerReports,
)
from hangar.core.queues.executor.recovery import LOST_AFTER, Recovery
from hangar.core.resources.service import Resources
from hangar.core.tracking.metrics.service import MetricsService
from hangar.core.tracking.tasks.experiments import Experiments
from hangar.core.tracking.tasks.models import Task
from hangar.settings import Settings

log = logging.getLogger("hangar.core.queues.executor")

ENDED = frozenset({EventKind.SESSION_TERMINATED, EventKind.SESSION_CANCELLED})
WAKE = frozenset({EventKind.QUEUE_ENTRY_ADDED})
RESULTS = frozenset({EventKind.SESSION_SUCCEEDED, EventKind.SESSION_FAILED})
PASS_SECONDS = 1.0
HEARTBEAT_SECONDS = 30.0  # running tasks pinged, the worker reported (as an agent does)
RENEW_SECONDS = 10.0  # the runs' leases (Leases.ttl: 60 s) are renewed this often


class Executor(Recovery, Dispatch):
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        feed: QueueFeed,
        experiments: Experiments,
        metrics: MetricsService,
        identity: IdentityService,
        compute: ComputeService,
        resources: Resources,
        bus: EventBus,
        workers: WorkerReports | None = None,
        ledger: RunLedger | None = None,
        agents: runs.AgentsHere | None = None,
    ) -> None:
        """``ledger``: the runs' leases, so several server processes on one database never
        both follow a run and take over those of a process that died (None: one process);
        ``agents``: those connected here (a remote group's queue is served with one of its)."""
        self._settings, self._clock, self._feed = settings, clock, feed
        self._experiments, self._metrics, self._identity = experiments, metrics, identity
        self._compute, self._resources, self._bus, self._workers = (
            compute, resources, bus, workers,
        )  # fmt: skip
        self._runs: dict[str, Run] = {}
        self._by_session: dict[uuid.UUID, Run] = {}
        self._wake = asyncio.Event()
        self._events: Subscription | None = None
        self._line: ws.ApiLine | None = None
        self._api_port = 0
        self._agent_id: str | None = None
        self._endings = Endings(experiments.tasks, metrics, feed, clock)
        self._ledger, self._agents = ledger, agents
        self.base = settings.data_dir / "executor"

    def nudge(self) -> None:
        """Run a pass now (a task was enqueued)."""
        self._wake.set()

    @property
    def running(self) -> dict[str, Run]:
        return dict(self._runs)

    async def run(self, api_host: str, api_port: int, *, agent_id: str | None) -> None:
        """The loop, until cancelled; ``api_host:api_port`` is the server's API, and runs
        go to this server's own agent ``agent_id`` (the one that sees the run directories)."""
        self._line, self._api_port = ws.ApiLine(api_host, api_port), api_port
        self._agent_id = agent_id
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o711)
        kinds = ENDED | RESULTS | WAKE
        try:
            async with self._bus.subscribe(Matcher(frozenset(kinds))) as events:
                self._events = events
                await self._guarded(self.recover(), "recover")
                checked = beat = renewed = 0.0
                while True:
                    await self._guarded(self.run_pass(), "pass")
                    if self._clock.monotonic() - renewed > RENEW_SECONDS:
                        renewed = self._clock.monotonic()
                        await self._guarded(self.renew(), "leases")
                    if self._clock.monotonic() - checked > LOST_AFTER.total_seconds():
                        checked = self._clock.monotonic()
                        await self._guarded(self._feed.ensure_defaults(), "default queues")
                        await self._guarded(self.recover(), "take over")
                        await self._guarded(self.requeue_lost(), "requeue")
                    if self._clock.monotonic() - beat > HEARTBEAT_SECONDS:
                        beat = self._clock.monotonic()
                        await self._guarded(self.heartbeat(), "heartbeat")
                    await self._wait(events)
        finally:
            await self._line.close_all()

    async def _wait(self, events: Subscription) -> None:
        """Until a queue entry is added, one of the runs' sessions changes, or PASS_SECONDS:
        other sessions' events (a plain session ending) start no pass inside their request."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PASS_SECONDS
        while not await self._wait_once(events, deadline - loop.time()):
            if loop.time() >= deadline:
                return

    async def _wait_once(self, events: Subscription, timeout: float) -> bool:  # noqa: ASYNC109
        waker = asyncio.ensure_future(self._wake.wait())
        getter = asyncio.ensure_future(events.get())
        try:
            await asyncio.wait({waker, getter}, timeout=max(timeout, 0.0),
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            waker.cancel()
            getter.cancel()
        woken = waker.done() and not waker.cancelled()
        self._wake.clear()
        if getter.done() and not getter.cancelled():
            woken = self._on_event(getter.result()) or woken
        return self._drain() or woken

    def _drain(self) -> bool:
        """Take the events that wait; whether one of them calls for a pass."""
        relevant = False
        for event in self._events.drain() if self._events is not None else ():
            relevant = self._on_event(event) or relevant
        return relevant

    def _on_event(self, event: Event) -> bool:
        """Note ``event``; whether it calls for a pass (a new entry, one of the runs)."""
        if event.kind in WAKE:
            self._wake.set()
            return True
        found = self._by_session.get(event.subject)
        if found is None:
            return False
        change = event.payload
        if (
            event.kind in RESULTS
            and isinstance(change, SessionChange)
            and change.exit_code is not None
        ):
            found.exit_code = change.exit_code
        return True

    async def _guarded(self, work: Any, step: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("executor %s failed", step)

    # A pass ------------------------------------------------------------------------------

    async def run_pass(self) -> None:
        await self._follow()
        if self._settings.executor.enabled:
            await self._dispatch()

    async def _follow(self) -> None:
        if not self._runs:
            return
        self._drain()
        tasks = {t.id: t for t in await self._experiments.task_reads.find(SYSTEM, self._runs)}
        for run in list(self._runs.values()):
            task = tasks.get(run.task_id)
            session = await self._session_of(run)
            if session is None or session.status in DEAD:
                succeeded = session is not None and session.result == SessionResult.SUCCESS
                await self._end(run, task, succeeded)
            elif task is None or p.stop_requested(task.status.value, task.status_message):
                await self._stop(run)

    async def _session_of(self, run: Run) -> Any:
        if run.session_id is None:
            return None
        try:
            return await self._compute.get(run.session_id)
        except NotFound:
            return None

    async def _stop(self, run: Run) -> None:
        if run.stopping or run.session_id is None:
            return
        run.stopping = True
        try:
            await self._compute.destroy(SYSTEM, str(run.session_id), owner=run.owner)
        except HangarError as exc:
            log.warning("could not end the session of task %s: %s", run.task_id, exc.message)

    async def _end(self, run: Run, task: Task | None, succeeded: bool) -> None:
        if task is not None:
            result = p.ending(task.status.value, task.status_message, run.exit_code, succeeded)
            contacted = runs.contacted(run, self._line)
            failed = result.outcome is p.Outcome.FAILED
            if not (failed and await self._endings.again(run, contacted=contacted)):
                await self._endings.finish(task.id, result, run.worker)
        await self._release(run)

    async def renew(self) -> None:
        """Keep the leases of this process's runs; a run another process took over (this
        one stood still longer than a lease lasts) is left to it."""
        if self._ledger is None or not self._runs:
            return
        held = await self._ledger.renew(list(self._runs))
        for run in [r for r in self._runs.values() if r.task_id not in held]:
            log.warning("task %s was taken over by another server process", run.task_id)
            self._forget(run)

    def _forget(self, run: Run) -> None:
        self._runs.pop(run.task_id, None)
        if run.session_id is not None:
            self._by_session.pop(run.session_id, None)
        if self._line is not None:
            asyncio.ensure_future(self._line.close(run.task_id))

    async def _release(self, run: Run) -> None:
        if self._ledger is not None:
            await self._ledger.close(run.task_id)
        self._runs.pop(run.task_id, None)
        if run.session_id is not None:
            self._by_session.pop(run.session_id, None)
        if self._line is not None:
            await self._line.close(run.task_id)
        with contextlib.suppress(HangarError):
            await self._identity.delete_keypair(run.access_key)
        await asyncio.to_thread(ws.remove, run.files)
        await self._report(run, None)

    async def heartbeat(self) -> None:
        """What an agent's status reports do: each running task is alive (the tracking
        watchdog stops silent ones) and the worker stays in ``workers.get_all``."""
        for run in list(self._runs.values()):
            if self._workers is not None:
                await self._report(run, run.task_id)
                continue
            with contextlib.suppress(HangarError):
                await self._experiments.tasks.ping(SYSTEM, run.task_id)

    async def _report(self, run: Run, task: str | None) -> None:
        if self._workers is None:
            return
        worker = run.worker
        try:
            await self._workers.report(run.owner, worker, queue_ids=run.queue_ids, task_id=task)
        except HangarError as exc:
            log.warning("worker %s could not report: %s", worker, exc.message)


def base_dir(data_dir: Path) -> Path:
    return data_dir / "executor"
