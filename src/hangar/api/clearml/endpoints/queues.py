"""``queues.*`` and the task moves into and out of queues: ``tasks.enqueue``,
``tasks.dequeue``, ``tasks.stop``."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hangar.api.clearml import query
from hangar.api.clearml.errors import ClearmlError
from hangar.api.clearml.queue_wire import (
    MAX_ENTRIES_SHOWN,
    QUEUES,
    EntryRequest,
    MetadataDelete,
    MetadataUpdate,
    MoveRequest,
    QueueFields,
    QueueRequest,
    WindowRequest,
    entry_object,
    queue_object,
)
from hangar.api.clearml.registry import Call, endpoint
from hangar.api.clearml.tasks_wire import StatusRequest, fields_of
from hangar.core.queues.models import Entry
from hangar.core.queues.plane import QueuePlane
from hangar.core.queues.service import Move
from hangar.core.tracking.tasks.service import Changed
from hangar.core.tracking.tasks.states import TaskStatus


def queues(call: Call) -> QueuePlane:
    return call.services.queues


class CreateRequest(QueueFields):
    name: str


@endpoint("queues.create")
async def create(call: Call) -> dict[str, Any]:
    body = call.parse(CreateRequest)
    fields = body.changes()
    name = fields.pop("name")
    return {"id": await queues(call).service.create(call.principal, name, **fields)}


class GetRequest(QueueRequest):
    max_task_entries: int | None = Field(default=None, ge=0)


@endpoint("queues.get_by_id")
async def get_by_id(call: Call) -> dict[str, Any]:
    body = call.parse(GetRequest)
    queue = await queues(call).reads.get(call.principal, body.queue)
    return {"queue": queue_object(queue.document(body.max_task_entries))}


async def _search(call: Call) -> dict[str, Any]:
    limit = call.body.get("max_task_entries")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ClearmlError(400, 12, "max_task_entries must be a non-negative integer")
    parsed, next_scroll = query.parse(QUEUES, call.body)
    docs = await queues(call).reads.search(
        call.principal, parsed, ids=query.ids_of(call.body, "id"),
        max_entries=MAX_ENTRIES_SHOWN if limit is None else limit,
    )  # fmt: skip
    answer: dict[str, Any] = {"queues": [queue_object(d) for d in docs]}
    if next_scroll is not None:
        answer["scroll_id"] = query.scroll_id(next_scroll)
    return answer


@endpoint("queues.get_all")
async def get_all(call: Call) -> dict[str, Any]:
    return await _search(call)


@endpoint("queues.get_all_ex")
async def get_all_ex(call: Call) -> dict[str, Any]:
    return await _search(call)


@endpoint("queues.get_default")
async def get_default(call: Call) -> dict[str, Any]:
    queue = await queues(call).queueing.resolve(call.principal, queue_id=None, queue_name=None)
    return {"id": queue.id, "name": queue.name}


class UpdateRequest(QueueFields, QueueRequest):
    pass


@endpoint("queues.update")
async def update(call: Call) -> dict[str, Any]:
    body = call.parse(UpdateRequest)
    written = await queues(call).service.update(call.principal, body.queue, body.changes())
    return {"updated": 1 if written else 0, "fields": fields_of(written)}


class DeleteRequest(QueueRequest):
    force: bool = False


@endpoint("queues.delete")
async def delete(call: Call) -> dict[str, Any]:
    body = call.parse(DeleteRequest)
    await queues(call).queueing.delete_queue(call.principal, body.queue, force=body.force)
    return {"deleted": 1}


@endpoint("queues.add_or_update_metadata")
async def add_or_update_metadata(call: Call) -> dict[str, Any]:
    body = call.parse(MetadataUpdate)
    items = {item.key: item.wire() for item in body.metadata}
    updated = await queues(call).service.edit_metadata(
        call.principal, body.queue, put=items, replace=body.replace_metadata
    )
    return {"updated": updated}


@endpoint("queues.delete_metadata")
async def delete_metadata(call: Call) -> dict[str, Any]:
    body = call.parse(MetadataDelete)
    updated = await queues(call).service.edit_metadata(call.principal, body.queue, drop=body.keys)
    return {"updated": updated}


class AddTaskRequest(EntryRequest):
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)


@endpoint("queues.add_task")
async def add_task(call: Call) -> dict[str, Any]:
    body = call.parse(AddTaskRequest)
    await queues(call).service.add_task(
        call.principal, body.queue, body.task, priority=body.priority
    )
    return {"added": 1}


@endpoint("queues.remove_task")
async def remove_task(call: Call) -> dict[str, Any]:
    body = call.parse(EntryRequest)
    removed = await queues(call).service.remove_task(call.principal, body.queue, body.task)
    return {"removed": removed}


class NextTaskRequest(QueueRequest):
    get_task_info: bool = False
    task: str | None = None


async def _next(call: Call, body: NextTaskRequest) -> tuple[Entry, Any] | None:
    """Pops the first entry whose task is still queued: one stopped meanwhile is skipped
    (it stays stopped) and the next is popped. A plain user's worker takes only the user's
    own tasks: the head must be theirs."""
    plane = queues(call)
    await plane.reads.get(call.principal, body.queue, with_entries=False)
    while True:  # each turn takes an entry: ends when the queue does
        wanted = body.task
        if not call.principal.is_admin:
            head = await plane.reads.peek(body.queue)
            if head is None or (wanted is not None and head.task_id != wanted):
                return None
            if not await call.services.tracking.experiments.access.writable(
                call.principal, [head.task_id]
            ):
                return None
            wanted = head.task_id
        entry = await plane.service.pop(body.queue, task_id=wanted)
        if entry is None:
            return None
        task = await plane.queueing.claim(call.principal, entry)
        if task is not None:
            return entry, task


@endpoint("queues.get_next_task")
async def get_next_task(call: Call) -> dict[str, Any]:
    body = call.parse(NextTaskRequest)
    popped = await _next(call, body)
    if popped is None:
        return {}
    entry, task = popped
    answer: dict[str, Any] = {"entry": entry_object(entry.task_id, entry.added)}
    if body.get_task_info:
        answer["task_info"] = {"company": task.company, "user": str(task.user)}
    return answer


@endpoint("queues.peek_task")
async def peek_task(call: Call) -> dict[str, Any]:
    body = call.parse(QueueRequest)
    plane = queues(call)
    await plane.reads.get(call.principal, body.queue, with_entries=False)
    head = await plane.reads.peek(body.queue)
    return {"task": head.task_id} if head else {}


@endpoint("queues.get_num_entries")
async def get_num_entries(call: Call) -> dict[str, Any]:
    body = call.parse(QueueRequest)
    return {"num": await queues(call).reads.num_entries(call.principal, body.queue)}


@endpoint("queues.clear_queue")
async def clear_queue(call: Call) -> dict[str, Any]:
    body = call.parse(QueueRequest)
    removed = await queues(call).service.clear(call.principal, body.queue)
    return {"removed_tasks": removed}


async def _move(call: Call, how: Move) -> dict[str, Any]:
    body = call.parse(MoveRequest)
    position = await queues(call).service.move(
        call.principal, body.queue, body.task, how, body.count
    )
    return {"position": position}


@endpoint("queues.move_task_forward")
async def move_task_forward(call: Call) -> dict[str, Any]:
    return await _move(call, Move.FORWARD)


@endpoint("queues.move_task_backward")
async def move_task_backward(call: Call) -> dict[str, Any]:
    return await _move(call, Move.BACKWARD)


@endpoint("queues.move_task_to_front")
async def move_task_to_front(call: Call) -> dict[str, Any]:
    return await _move(call, Move.TO_FRONT)


@endpoint("queues.move_task_to_back")
async def move_task_to_back(call: Call) -> dict[str, Any]:
    return await _move(call, Move.TO_BACK)


class MetricsRequest(WindowRequest):
    queue_ids: list[str] | None = None


@endpoint("queues.get_queue_metrics")
async def get_queue_metrics(call: Call) -> dict[str, Any]:
    body = call.parse(MetricsRequest)
    since, until = body.window()
    found = await queues(call).reads.metrics(
        call.principal, body.queue_ids or [], since, until, body.interval
    )
    return {"queues": [
        {"queue": s.queue_id, "dates": s.dates, "avg_waiting_times": s.wait_seconds,
         "queue_lengths": s.lengths} for s in found
    ]}  # fmt: skip


# Tasks into and out of queues ------------------------------------------------------------


def _answer(changed: Changed, **extra: Any) -> dict[str, Any]:
    return {"updated": changed.updated, "fields": fields_of(changed.values), **extra}


class EnqueueRequest(StatusRequest):
    queue: str | None = None
    queue_name: str | None = None
    verify_watched_queue: bool = False
    update_execution_queue: bool = True
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)


@endpoint("tasks.enqueue")
async def enqueue(call: Call) -> dict[str, Any]:
    body = call.parse(EnqueueRequest)
    plane = queues(call)
    done = await plane.queueing.enqueue(
        call.principal, body.task, queue_id=body.queue, queue_name=body.queue_name,
        priority=body.priority, reason=body.status_reason, message=body.status_message,
        set_execution_queue=body.update_execution_queue,
    )  # fmt: skip
    answer = _answer(done.changed, queued=1)
    answer["fields"]["execution.queue"] = done.queue.id
    if body.verify_watched_queue:
        workers = await plane.workers.all(call.principal)
        answer["queue_watched"] = any(done.queue.id in w.queues for w in workers)
    return answer


class DequeueRequest(StatusRequest):
    new_status: TaskStatus | None = None
    remove_from_all_queues: bool = False


@endpoint("tasks.dequeue")
async def dequeue(call: Call) -> dict[str, Any]:
    body = call.parse(DequeueRequest)
    done = await queues(call).queueing.dequeue(
        call.principal, body.task, new_status=body.new_status,
        reason=body.status_reason, message=body.status_message,
    )  # fmt: skip
    return _answer(done.changed, dequeued=1 if done.removed or done.changed.updated else 0)


@endpoint("tasks.stop")
async def stop(call: Call) -> dict[str, Any]:
    """The abort request: a development, queued or worker-less task stops at once (and
    leaves its queue); a task a worker runs is asked to stop ("stopping")."""
    body = call.parse(StatusRequest)
    changed = await queues(call).queueing.stop(
        call.principal, body.task, force=body.force,
        reason=body.status_reason, message=body.status_message,
    )  # fmt: skip
    return _answer(changed)
