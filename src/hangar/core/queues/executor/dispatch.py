"""How the executor starts runs: while there is room, pop the queues Hangar serves (those
it can reach: a remote group's with one of its agents connected here), take each task
(``queued -> in_progress`` in one compare-and-set write), write its run directory and
create its batch session (a part of :class:`~hangar.core.queues.executor.service.Executor`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

from hangar.core.clock import Clock
from hangar.core.compute.service import ComputeService
from hangar.core.errors import Conflict, HangarError
from hangar.core.identity.service import IdentityService
from hangar.core.queues.executor import plan as p
from hangar.core.queues.executor import runs
from hangar.core.queues.executor import workspace as ws
from hangar.core.queues.executor.endings import Endings
from hangar.core.queues.executor.ledger import RunLedger
from hangar.core.queues.executor.models import SYSTEM, QueueFeed, Run, RunRecord, ServedQueue
from hangar.core.resources.service import Resources
from hangar.core.tracking.tasks.experiments import Experiments
from hangar.core.tracking.tasks.models import Task
from hangar.core.tracking.tasks.states import STOPPING, TaskStatus
from hangar.settings import Settings

log = logging.getLogger("hangar.core.queues.executor")


class Dispatch:
    """The executor's start of runs (a part of :class:`Executor`)."""

    _settings: Settings
    _clock: Clock
    _feed: QueueFeed
    _experiments: Experiments
    _identity: IdentityService
    _compute: ComputeService
    _resources: Resources
    _endings: Endings
    _ledger: RunLedger | None
    _agents: runs.AgentsHere | None
    _runs: dict[str, Run]
    _by_session: dict[uuid.UUID, Run]
    _line: ws.ApiLine | None
    _api_port: int
    _agent_id: str | None
    base: Path

    async def _release(self, run: Run) -> None: ...

    async def _report(self, run: Run, task: str | None) -> None: ...

    async def _dispatch(self) -> None:
        room = self._settings.executor.max_running - len(self._runs)
        if room <= 0:
            return
        served, default = await self._feed.served(), self._settings.executor.scaling_group
        for queue in await runs.reachable(served, default, self._agents, own=self._agent_id):
            while room > 0:
                popped = await self._feed.pop(queue.id)
                if popped is None:
                    break
                if await self._guarded_start(queue, popped.task_id):
                    room -= 1

    async def _guarded_start(self, queue: ServedQueue, task_id: str) -> bool:
        try:
            return await self.start(queue, task_id)
        except Exception:
            log.exception("task %s could not start", task_id)
            return False

    async def start(self, queue: ServedQueue, task_id: str) -> bool:
        """Start a popped task; False when it is no longer queued (dequeued, stopped,
        deleted meanwhile: its entry is dropped)."""
        found = await self._experiments.task_reads.find(SYSTEM, [task_id])
        if not found or found[0].status is not TaskStatus.QUEUED:
            return False
        task = found[0]
        group = queue.scaling_group or self._settings.executor.scaling_group
        worker = p.worker_name(group)
        try:
            if not await self._started(task, worker):
                return False
        except Conflict:  # changed again and again meanwhile
            return False
        try:
            owner, keypair = await self._identity.on_behalf_of(task.user)
        except HangarError as exc:
            await self._endings.fail_start(task.id, worker, exc.message)
            return True
        files = ws.run_files(self.base, task.id)
        run = Run(task.id, owner, worker, files, keypair.keypair.access_key,
                  domain=task.company, queue_ids=[queue.id],
                  remote=runs.goes_remote(group, self._agent_id))  # fmt: skip
        await self._lease(run, task.user, queue.id)
        self._runs[task.id] = run
        try:
            plan = p.run_plan(
                task.id, task.name, task.document(), default_image=self._settings.executor.image,
                sdk_given=self._settings.executor.sdk_path is not None,
                skip_requirements=self._settings.executor.skip_requirements,
            )  # fmt: skip
            await self._prepare(run, plan, keypair.secret_key)
            await self._create_session(run, plan, queue, group)
        except HangarError as exc:
            await self._endings.fail_start(task.id, worker, exc.message)
            await self._release(run)
            return True
        await self._report(run, task.id)
        return True

    async def _lease(self, run: Run, user: uuid.UUID, queue_id: str) -> None:
        """The run is this process's (its lease in the ledger)."""
        if self._ledger is not None:
            await self._ledger.open(RunRecord(
                run.task_id, user, run.domain, run.worker, queue_id, run.access_key, None,
                self._ledger.home, self._clock.now(),
            ))  # fmt: skip

    async def _started(self, task: Task, worker: str) -> bool:
        """queued -> in_progress on this worker, in one compare-and-set write; False when
        the task is no longer queued (dequeued between its enqueue's two steps, stopped),
        or was asked to stop after the pop (it ends stopped here)."""
        now = self._clock.now()

        def decide(current: Task) -> dict[str, Any] | None:
            if current.status is not TaskStatus.QUEUED:
                return None
            if current.status_message == STOPPING:  # stopped after the pop: it never runs
                return {
                    "status": TaskStatus.STOPPED.value, "status_changed": now,
                    "status_reason": "task was stopped by tasks.stop",
                    "status_message": "stopped before it started", "completed": now,
                }  # fmt: skip
            return {
                "status": TaskStatus.IN_PROGRESS.value, "status_reason": "pulled by hangar",
                "status_message": f"Changed by {worker}", "status_changed": now,
                "started": current.started or now, "completed": None,
                "last_worker": worker, "last_worker_report": now,
            }  # fmt: skip

        changed = await self._experiments.tasks.change(SYSTEM, task.id, decide)
        return changed.values.get("status") == TaskStatus.IN_PROGRESS.value

    async def _prepare(self, run: Run, plan: p.RunPlan, secret: str) -> None:
        spec = runs.spec_of(self._settings, run, plan, secret, self._api_port)
        await runs.write_files(self._settings, run, plan, spec)
        if self._line is not None and not runs.on_remote(run):  # else the agent opens it
            await self._line.open(run.task_id, run.files.socket)

    async def _create_session(
        self, run: Run, plan: p.RunPlan, queue: ServedQueue, group: str
    ) -> None:
        request = await runs.session_request(
            self._settings, self._resources, run, plan, queue, group, self._agent_id
        )
        outcome = await self._compute.create(SYSTEM, request)
        run.session_id = outcome.session.id
        self._by_session[outcome.session.id] = run
        if self._ledger is not None:
            await self._ledger.set_session(run.task_id, outcome.session.id)
        await asyncio.to_thread(runs.note_session, run, outcome.session.id)
