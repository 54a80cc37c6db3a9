"""Tasks in and out of queues: enqueue, dequeue and stop, with the task's status moved by
the tasks part's status machine (compare-and-set there) and its queue entry kept in step.

The status moves first, then the entry: a worker never pops a task whose status still says
it may not run; a failed entry write moves the status back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from hangar.core.principal import Principal
from hangar.core.queues.models import (
    Entry,
    NoDefaultQueue,
    Queue,
    QueueNotFound,
    TaskAlreadyQueued,
)
from hangar.core.queues.reads import QueueReads
from hangar.core.queues.service import QueueService
from hangar.core.tracking.tasks.models import DEVELOPMENT, Task, TaskNotFound
from hangar.core.tracking.tasks.reads import TaskReads
from hangar.core.tracking.tasks.service import Changed, TaskService
from hangar.core.tracking.tasks.states import STOPPING, TaskStatus

log = logging.getLogger("hangar.core.queues")


@dataclass(frozen=True, slots=True)
class Enqueued:
    changed: Changed
    queue: Queue
    position: int


@dataclass(frozen=True, slots=True)
class Dequeued:
    changed: Changed
    removed: int


class Queueing:
    """Moves tasks into and out of queues on behalf of a principal who may change them."""

    def __init__(
        self, queues: QueueService, reads: QueueReads, tasks: TaskService, task_reads: TaskReads
    ) -> None:
        self._queues = queues
        self._reads = reads
        self._tasks = tasks
        self._task_reads = task_reads

    async def resolve(
        self, principal: Principal, *, queue_id: str | None, queue_name: str | None
    ) -> Queue:
        """The queue by id, else by name (an administrator's unknown name creates it), else
        the domain's default queue."""
        if queue_id:
            return await self._reads.get(principal, queue_id, with_entries=False)
        if queue_name:
            found = await self._reads.named(principal, queue_name)
            if found is not None:
                return found
            if not principal.is_admin:
                raise QueueNotFound(queue_name)
            new = await self._queues.create(principal, queue_name)
            return await self._reads.get(principal, new, with_entries=False)
        try:
            return await self._reads.default(principal)
        except QueueNotFound:
            raise NoDefaultQueue() from None

    async def enqueue(
        self,
        principal: Principal,
        task_id: str,
        *,
        queue_id: str | None = None,
        queue_name: str | None = None,
        priority: int = 0,
        reason: str | None = None,
        message: str | None = None,
        set_execution_queue: bool = True,
    ) -> Enqueued:
        """The task moves to queued (from created, stopped or failed) and joins the queue's
        entries behind those of its priority or higher."""
        queue = await self.resolve(principal, queue_id=queue_id, queue_name=queue_name)

        def extra(task: Task) -> dict[str, Any]:
            values: dict[str, Any] = {
                "enqueue_status": task.status.value,
                "system_tags": [t for t in task.system_tags if t != DEVELOPMENT],
            }
            if set_execution_queue:
                values["execution"] = {**task.execution, "queue": queue.id}
            return values

        changed = await self._tasks.move(
            principal, task_id, TaskStatus.QUEUED, reason=reason, message=message, extra=extra
        )
        try:
            position = await self._queues.put(queue.id, task_id, priority=priority)
        except TaskAlreadyQueued:
            raise  # a concurrent enqueue won: its status stands
        except BaseException:
            await self._tasks.move(
                principal, task_id, changed.task.status, force=True,
                reason="enqueue failed", message=changed.task.status_message,
            )  # fmt: skip
            raise
        return Enqueued(changed, queue, position)

    async def dequeue(
        self,
        principal: Principal,
        task_id: str,
        *,
        new_status: TaskStatus | None = None,
        reason: str | None = None,
        message: str | None = None,
    ) -> Dequeued:
        """The task leaves its queue; a queued or running task moves (forced) to
        ``new_status``, else the status it had before it was enqueued, else created."""
        task = await self._task_reads.get(principal, task_id)
        removed = await self._queues.discard([task_id])
        if task.status not in (TaskStatus.QUEUED, TaskStatus.IN_PROGRESS):
            return Dequeued(Changed(task, {}), removed)
        target = new_status or _status(task.enqueue_status) or TaskStatus.CREATED
        if target is TaskStatus.QUEUED:
            target = TaskStatus.CREATED
        changed = await self._tasks.move(
            principal, task_id, target, force=True, reason=reason, message=message
        )
        return Dequeued(changed, removed)

    async def delete_queue(self, principal: Principal, queue_id: str, *, force: bool) -> int:
        """Deletes the queue (administrators; with tasks only with ``force``); its queued
        tasks go back to the status they had before; returns how many."""
        queue = await self._reads.get(principal, queue_id)
        await self._queues.delete(principal, queue_id, force=force)
        moved = 0
        for entry in queue.entries:
            try:
                task = await self._task_reads.get(principal, entry.task_id)
            except TaskNotFound:
                continue
            if task.status is TaskStatus.QUEUED:
                target = _status(task.enqueue_status) or TaskStatus.CREATED
                if target is TaskStatus.QUEUED:
                    target = TaskStatus.CREATED
                await self._tasks.move(principal, task.id, target, force=True,
                                       reason="queue deleted")  # fmt: skip
                moved += 1
        return moved

    async def stop(
        self,
        principal: Principal,
        task_id: str,
        *,
        force: bool = False,
        reason: str | None = None,
        message: str | None = None,
    ) -> Changed:
        """The abort request: a development, waiting or worker-less task stops now (and
        leaves its queue); a task a worker holds (runs it, or popped it and has not
        started it yet) is asked to stop (status message "stopping", kept through the
        worker's and the task's own moves to in_progress): the worker ends it and reports
        it stopped. A task in progress that came out of a queue is a worker's even before
        the worker's first report names it (an agent's forced ``tasks.started`` comes
        first and the next one would revive a stopped task). The queue entry goes first,
        so a pop never hands out a task whose stop was answered."""
        task = await self._task_reads.get(principal, task_id)
        worked = DEVELOPMENT not in task.system_tags
        popped = task.last_worker is not None or task.enqueue_status is not None
        held = worked and popped and task.status is TaskStatus.IN_PROGRESS
        if worked and task.status is TaskStatus.QUEUED:
            held = not await self._queues.discard([task_id])  # no entry: a worker popped it
        if not held:
            changed = await self._tasks.finished(
                principal, task_id, TaskStatus.STOPPED, force=force, reason=reason,
                message=message or f"Stopped by {principal.email}",
            )  # fmt: skip
            await self._queues.discard([task_id])
            return changed
        return await self._tasks.move(
            principal, task_id, task.status, force=True, reason=reason, message=STOPPING
        )

    async def claim(self, principal: Principal, entry: Entry) -> Task | None:
        """What a worker does with a popped entry before it runs the task: the task if it
        is still queued; None for a task stopped meanwhile (it stays stopped; a pending
        stop request ends it stopped now) or gone. The caller pops the next entry."""
        found = await self._task_reads.find(principal, [entry.task_id])
        task = found[0] if found else None
        if task is not None and task.status is TaskStatus.QUEUED:
            if task.status_message != STOPPING:
                return task
            await self._tasks.finished(
                principal, task.id, TaskStatus.STOPPED, force=True,
                reason="task was stopped by tasks.stop", message="stopped before it started",
            )  # fmt: skip
        log.info(
            "task %s popped from queue %s was %s: skipped", entry.task_id, entry.queue_id,
            task.status.value if task is not None else "gone",
        )  # fmt: skip
        return None


def _status(value: str | None) -> TaskStatus | None:
    try:
        return TaskStatus(value) if value else None
    except ValueError:
        return None
