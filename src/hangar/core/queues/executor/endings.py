"""How the executor ends a task: its final status, a line in its log, or queued again when
its session died before the task's code ran."""

from __future__ import annotations

import contextlib
import logging

from hangar.core.clock import Clock
from hangar.core.errors import HangarError
from hangar.core.queues.executor import plan as p
from hangar.core.queues.executor.models import SYSTEM, QueueFeed, Run
from hangar.core.tracking.metrics.models import LogIn
from hangar.core.tracking.metrics.service import MetricsService
from hangar.core.tracking.tasks.service import TaskService
from hangar.core.tracking.tasks.states import TaskStatus

log = logging.getLogger("hangar.core.queues.executor")

START_RETRIES = 2  # a session that fails before the task's code runs: queued again
STATUSES = {
    p.Outcome.COMPLETED: TaskStatus.COMPLETED,
    p.Outcome.FAILED: TaskStatus.FAILED,
    p.Outcome.STOPPED: TaskStatus.STOPPED,
}


class Endings:
    def __init__(
        self, tasks: TaskService, metrics: MetricsService, feed: QueueFeed, clock: Clock
    ) -> None:
        self._tasks, self._metrics, self._feed, self._clock = tasks, metrics, feed, clock
        self._retries: dict[str, int] = {}  # task -> sessions that died before it ran

    async def finish(self, task_id: str, result: p.Ending, worker: str) -> None:
        """The task's final status (nothing for ``LEAVE``); a refused move is logged."""
        new = STATUSES.get(result.outcome)
        if new is None:
            return
        try:
            await self._tasks.finished(
                SYSTEM, task_id, new, force=new is TaskStatus.STOPPED, reason=result.reason,
                message=f"Changed by {worker}",
            )  # fmt: skip
        except HangarError as exc:
            log.warning("task %s could not become %s: %s", task_id, new.value, exc.message)

    async def fail_start(self, task_id: str, worker: str, why: str) -> None:
        await self.note(task_id, worker, f"[hangar] the task could not start: {why}")
        await self.finish(task_id, p.Ending(p.Outcome.FAILED, why), worker)

    async def note(self, task_id: str, worker: str, text: str) -> None:
        """A line of the executor's own in the task's log."""
        line = LogIn(task_id, int(self._clock.time() * 1000), "error", worker, text)
        with contextlib.suppress(HangarError):
            await self._metrics.add(SYSTEM, [line])

    async def again(self, run: Run, *, contacted: bool) -> bool:
        """Queue the task again when its session ended before the launcher called in (the
        sandbox could not start: the task's code never ran), at most ``START_RETRIES``
        times; False when it is to fail instead."""
        tries = self._retries.get(run.task_id, 0)
        if contacted or not run.queue_ids or tries >= START_RETRIES:
            self._retries.pop(run.task_id, None)
            return False
        self._retries[run.task_id] = tries + 1
        why = "[hangar] the session ended before the task's code ran; queued again"
        await self.note(run.task_id, run.worker, why)
        try:
            await self._tasks.move(
                SYSTEM, run.task_id, TaskStatus.QUEUED, force=True,
                reason="session failed to start", message="queued again",
            )  # fmt: skip
            await self._feed.put_back(run.queue_ids[0], run.task_id)
        except HangarError as exc:
            log.warning("task %s could not be queued again: %s", run.task_id, exc.message)
            return False
        return True
