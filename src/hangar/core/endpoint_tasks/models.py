"""A QUEUE endpoint's tasks as the core hands them out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    PROCESSING = "PROCESSING"  # queued: not yet sent to a worker
    DELIVERED = "DELIVERED"  # sent to a worker, awaiting its answer
    SUCCESS = "SUCCESS"  # the worker answered 2xx
    FAILED = "FAILED"  # the worker answered otherwise, timed out, or died twice

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.SUCCESS, TaskStatus.FAILED)


class DeliveryStatus(StrEnum):
    INIT = "INIT"  # no attempt yet (or no webhook)
    SUCCESS = "SUCCESS"  # the webhook answered 2xx
    FAILED = "FAILED"  # an attempt failed; a retry is due
    MAX_RETRIES_EXCEEDED = "MAX_RETRIES_EXCEEDED"  # the last retry failed too


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """A validated submission (the face checked the wire rules)."""

    input_json: str  # the input document as JSON text
    worker_port: int
    process_uri: str
    key: str | None = None  # the caller's taskId; None: a new one is made
    webhook: str | None = None
    webhook_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Task:
    id: int  # internal number (the webhook body's task_id)
    key: str  # the taskId
    endpoint_id: int
    endpoint_name: str
    status: TaskStatus
    worker_url: str | None
    webhook: str | None
    delivery_status: DeliveryStatus
    delivery_attempts: int
    error: str | None
    input: Any
    output: Any
    headers: dict[str, str]
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class TaskPage:
    items: list[Task]
    total: int


@dataclass(frozen=True, slots=True)
class TaskCounts:
    processing: int  # not finished (queued or at a worker)
    delivered: int
    success: int
    failed: int

    @property
    def total(self) -> int:
        return self.processing + self.success + self.failed


@dataclass(frozen=True, slots=True)
class Notice:
    """A finished task's result on its way to a webhook (attempt ``attempt``, from 1)."""

    task_id: int
    key: str
    endpoint_id: int
    status: TaskStatus
    output: Any
    error: str | None
    attempt: int
    sent_at: datetime
