"""Queues and workers in ClearML's wire form: request bodies in, queue and worker objects
out (spec §6.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from hangar.api.clearml.errors import ClearmlError
from hangar.api.clearml.query import Language, rendered
from hangar.api.clearml.tasks_wire import Body
from hangar.core.queues.models import Queue, ServedBy, Worker
from hangar.core.tracking.tasks.models import Task

QUEUES = Language(
    lists=frozenset({"id", "user", "tags", "system_tags", "company", "served_by"}),
    ranges=frozenset({"created"}),
    dates=frozenset({"last_update"}),
    text_fields=("id", "name", "display_name"),
    time_fields=frozenset({"created"}),
)
MAX_ENTRIES_SHOWN = 10_000


class QueueRequest(Body):
    queue: str


class QueueFields(Body):
    """What queues.create and queues.update may set (``served_by``, ``scaling_group``,
    ``resource_preset``: Hangar's own, for administrators)."""

    name: str | None = None
    display_name: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    metadata: dict[str, dict[str, Any]] | None = None
    served_by: ServedBy | None = None
    scaling_group: str | None = Field(default=None, max_length=64)
    resource_preset: str | None = Field(default=None, max_length=64)

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True, exclude={"queue", "force"})
        return {k: v for k, v in given.items() if v is not None}


class MetadataItem(Body):
    key: str = Field(min_length=1, max_length=255)
    type: str | None = ""
    value: Any = ""

    def wire(self) -> dict[str, str]:
        """The item as stored and answered (values are text, as the reference keeps them)."""
        value = "" if self.value is None else self.value
        return {"key": self.key, "type": self.type or "", "value": str(value)}


class MetadataUpdate(QueueRequest):
    metadata: list[MetadataItem]
    replace_metadata: bool = False


class MetadataDelete(QueueRequest):
    keys: list[str]


class EntryRequest(QueueRequest):
    task: str


class MoveRequest(EntryRequest):
    count: int = Field(default=1, ge=1, le=1_000_000)


class WindowRequest(Body):
    from_date: float
    to_date: float
    interval: int = Field(ge=1)

    def window(self) -> tuple[datetime, datetime]:
        try:
            since = datetime.fromtimestamp(self.from_date, UTC)
            until = datetime.fromtimestamp(self.to_date, UTC)
        except (OverflowError, OSError, ValueError):
            raise ClearmlError(400, 12, "from_date/to_date out of range") from None
        if until < since:
            raise ClearmlError(400, 12, "to_date must not be before from_date")
        return since, until


def queue_object(doc: Mapping[str, Any]) -> dict[str, Any]:
    out = rendered(dict(doc))
    assert isinstance(out, dict)
    return out


def entry_object(task_id: str, added: datetime) -> dict[str, Any]:
    return {"task": task_id, "added": added.isoformat()}


def _ref(id_: str | None, name: str | None) -> dict[str, Any] | None:
    return None if id_ is None else {"id": id_, "name": name or ""}


def worker_object(
    worker: Worker,
    now: datetime,
    queues: Mapping[str, Queue],
    tasks: Mapping[str, Task],
    projects: Mapping[str, str],
) -> dict[str, Any]:
    """A worker as workers.get_all lists it; ``queues``/``tasks``/``projects`` (id -> name)
    are what the caller may see."""
    task = tasks.get(worker.task or "")
    current = queues.get(worker.queue or "")
    out: dict[str, Any] = {
        "id": worker.name, "key": worker.name,
        "user": {"id": str(worker.user) if worker.user else "hangar", "name": worker.user_name},
        "company": {"id": worker.company, "name": worker.company}, "ip": worker.ip,
        "register_time": worker.register_time.isoformat(),
        "last_activity_time": worker.last_activity_time.isoformat(),
        "last_report_time": worker.last_report_time.isoformat()
        if worker.last_report_time else None,
        "tags": worker.tags, "system_tags": worker.system_tags,
        "queue": _ref(current.id, current.name) if current else None,
        "queues": [_queue_entry(queues[q]) for q in worker.queues if q in queues],
        "task": None, "project": None,
    }  # fmt: skip
    if task is not None:
        running = int((now - task.started).total_seconds()) if task.started else 0
        out["task"] = {"id": task.id, "name": task.name, "running_time": running,
                       "last_iteration": task.last_iteration}  # fmt: skip
        out["project"] = _ref(task.project, projects.get(task.project or ""))
    return {k: v for k, v in out.items() if v is not None}


def _queue_entry(queue: Queue) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": queue.id, "name": queue.name,
                             "display_name": queue.display_name or queue.name,
                             "num_tasks": len(queue.entries)}  # fmt: skip
    if queue.entries:
        entry["next_task"] = {"id": queue.entries[0].task_id, "name": ""}
    return entry


def names_of(value: Sequence[str] | None) -> list[str] | None:
    return None if value is None else [str(v) for v in value]
