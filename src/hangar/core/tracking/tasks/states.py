"""A task's status and the moves between statuses (the table of the tracking contract).

Same-status moves are always allowed; ``force`` skips the table. The move itself is a
compare-and-set on the old status, made by the service.
"""

from __future__ import annotations

from enum import StrEnum

from hangar.core.errors import Conflict


class TaskStatus(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    STOPPED = "stopped"
    PUBLISHED = "published"
    PUBLISHING = "publishing"
    CLOSED = "closed"
    FAILED = "failed"
    COMPLETED = "completed"
    UNKNOWN = "unknown"


S = TaskStatus
MOVES: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.CREATED: frozenset({S.QUEUED, S.IN_PROGRESS}),
    S.QUEUED: frozenset({S.CREATED, S.IN_PROGRESS, S.STOPPED}),
    S.IN_PROGRESS: frozenset({S.STOPPED, S.FAILED, S.CREATED, S.COMPLETED}),
    S.STOPPED: frozenset(
        {
            S.CLOSED,
            S.CREATED,
            S.FAILED,
            S.QUEUED,
            S.IN_PROGRESS,
            S.PUBLISHED,
            S.PUBLISHING,
            S.COMPLETED,
        }
    ),  # fmt: skip
    S.CLOSED: frozenset({S.CREATED, S.FAILED, S.PUBLISHED, S.PUBLISHING, S.STOPPED}),
    S.FAILED: frozenset({S.CREATED, S.STOPPED, S.PUBLISHED, S.QUEUED}),
    S.PUBLISHING: frozenset({S.PUBLISHED}),
    S.PUBLISHED: frozenset(),
    S.COMPLETED: frozenset({S.PUBLISHED, S.IN_PROGRESS, S.CREATED}),
    S.UNKNOWN: frozenset(),
}

FINISHED = frozenset({S.COMPLETED, S.STOPPED, S.PUBLISHED, S.CLOSED, S.FAILED})
"""Statuses whose task has run to an end (for run-time statistics)."""

READ_ONLY = frozenset({S.PUBLISHED, S.PUBLISHING})
"""Statuses in which a task's fields change only with ``force``."""

STOPPING = "stopping"
"""The status message of a task asked to stop (``tasks.stop``) that a worker holds: it
stays through the worker's and the task's own moves to in_progress until the task ends."""


def message_of(old: TaskStatus, old_message: str, new: TaskStatus, message: str) -> str:
    """The status message a move writes: the caller's, except that a pending stop request
    outlives moves to in_progress (an agent's or the SDK's ``tasks.started``), so an
    acknowledged stop is never lost."""
    held = old in (S.QUEUED, S.IN_PROGRESS) and new is S.IN_PROGRESS
    return STOPPING if held and old_message == STOPPING else message


class InvalidStatusChange(Conflict):
    """The status table does not allow this move (without force)."""

    code = "invalid-task-status"
    default_message = "Invalid task status."


class StatusChanged(Conflict):
    """Someone else changed the task's status between reading and writing it."""

    code = "task-status-changed"
    default_message = "The task's status changed meanwhile; try again."


def may_move(old: TaskStatus, new: TaskStatus, *, force: bool = False) -> bool:
    """Whether ``old -> new`` is allowed: always with ``force`` or when nothing changes."""
    return force or old == new or new in MOVES[old]


def check_move(old: TaskStatus, new: TaskStatus, *, force: bool = False) -> None:
    """Raises :class:`InvalidStatusChange` unless ``old -> new`` is allowed."""
    if not may_move(old, new, force=force):
        raise InvalidStatusChange(
            f"Invalid status change: {old.value} -> {new.value} (use force to override)"
        )


def may_edit(status: TaskStatus, *, force: bool) -> bool:
    """``tasks.edit``: only a created task without force; any status with it."""
    return force or status is S.CREATED


def may_update_fields(status: TaskStatus, *, force: bool) -> bool:
    """Artifacts, models, hyperparameters, configuration: created, or in progress with force."""
    return status is S.CREATED or (force and status is S.IN_PROGRESS)
