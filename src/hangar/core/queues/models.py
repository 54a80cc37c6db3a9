"""Queues, their entries and workers as the queues core hands them out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from hangar.core.errors import (
    AlreadyExists,
    Conflict,
    InsufficientPrivilege,
    NotFound,
)

DEFAULT = "default"
"""The name of each domain's first queue, and the system tag that marks the default queue."""

OWN_GROUP = "default"
"""The scaling group of the server's own (embedded) agent: the only one whose sessions reach
the API through the run's socket, so the only one a queue Hangar serves may map to."""


class ServedBy(StrEnum):
    """Who takes a queue's tasks: Hangar's own executor, or external workers (agents)."""

    HANGAR = "hangar"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class Entry:
    """A task waiting in a queue: what a pop hands out."""

    task_id: str
    queue_id: str
    added: datetime
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Queue:
    id: str
    name: str
    display_name: str | None
    company: str  # the domain
    user: uuid.UUID | None
    tags: list[str]
    system_tags: list[str]
    metadata: dict[str, Any]
    served_by: ServedBy
    scaling_group: str | None
    resource_preset: str | None
    created: datetime
    last_update: datetime
    entries: tuple[Entry, ...] = ()

    @property
    def is_default(self) -> bool:
        return DEFAULT in self.system_tags

    def document(self, max_entries: int | None = None) -> dict[str, Any]:
        """The queue as a plain document (queries filter, sort and project these)."""
        shown = self.entries if max_entries is None else self.entries[:max_entries]
        return {
            "id": self.id, "name": self.name, "display_name": self.display_name,
            "company": self.company, "user": str(self.user) if self.user else None,
            "created": self.created, "last_update": self.last_update, "tags": list(self.tags),
            "system_tags": list(self.system_tags), "metadata": dict(self.metadata),
            "entries": [{"task": e.task_id, "added": e.added, "priority": e.priority}
                        for e in shown],
            "served_by": self.served_by.value, "scaling_group": self.scaling_group,
            "resource_preset": self.resource_preset,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class QueueSample:
    """A queue's length and its wait (seconds: halfway between its oldest and newest entry's)."""

    queue_id: str
    at: datetime
    length: int
    wait_seconds: float


@dataclass(frozen=True, slots=True)
class QueueSeries:
    """A queue's samples bucketed by interval: bucket starts (epoch seconds), the largest
    wait in each bucket and the length that went with it."""

    queue_id: str
    dates: list[int] = field(default_factory=list)
    wait_seconds: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Worker:
    """A worker as last heard from: the queues it serves and the task it runs."""

    key: int
    name: str
    company: str
    user: uuid.UUID | None  # None: Hangar's own executor (shown as HANGAR_WORKER_USER)
    ip: str
    tags: list[str]
    system_tags: list[str]
    queues: list[str]
    queue: str | None  # the queue its current task came from
    task: str | None
    timeout_seconds: int
    register_time: datetime
    last_activity_time: datetime
    last_report_time: datetime | None
    user_name: str = ""  # the name of the user it works as (filled in by the reads)
    runs_unseen: bool = False  # runs a task the viewer may not see (task/queue left out)

    def alive(self, now: datetime) -> bool:
        return (now - self.last_activity_time).total_seconds() <= self.timeout_seconds


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """One status report: whether the worker ran a task, and its machine stats (metric ->
    values: one per core or GPU, or one)."""

    worker_key: int
    at: datetime
    busy: bool
    stats: dict[str, Any]


class QueueNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__("queue", f"Invalid queue id: {ref}", ref=ref)


class QueueExists(AlreadyExists):
    code = "queue-exists"


class NoDefaultQueue(NotFound):
    code = "no-default-queue"

    def __init__(self) -> None:
        super().__init__("queue", "No queue is tagged as the default queue")


class TaskNotQueued(Conflict):
    code = "task-not-queued"
    default_message = "The task is not in this queue."


class TaskAlreadyQueued(Conflict):
    code = "task-already-queued"
    default_message = "The task was queued meanwhile (or is gone)."


class QueueNotEmpty(Conflict):
    code = "queue-not-empty"
    default_message = "The queue has tasks; delete it with force."


class QueueAdminOnly(InsufficientPrivilege):
    code = "queue-admin-only"
    default_message = "Queue administration needs administrator rights."


class WorkerNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__("worker", f"Invalid worker id: {name}", ref=name)


def new_id() -> str:
    return uuid.uuid4().hex
