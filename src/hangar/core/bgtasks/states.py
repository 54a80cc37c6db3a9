"""Where a background task stands, and the moves between those states."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TaskStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self is not TaskStatus.RUNNING


MOVES: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.RUNNING: frozenset({TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELLED}),
    TaskStatus.DONE: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


def can_move(old: TaskStatus, new: TaskStatus) -> bool:
    return new in MOVES[old]


@dataclass(frozen=True, slots=True)
class TaskState:
    """A snapshot of one task: progress is ``current`` of ``total`` (0 total: unknown)."""

    id: uuid.UUID
    kind: str
    owner: str
    status: TaskStatus
    current: int
    total: int
    message: str
    updated_at: datetime

    @property
    def finished(self) -> bool:
        return self.status.finished
