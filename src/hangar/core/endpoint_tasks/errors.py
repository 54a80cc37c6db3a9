"""The task routes' own refusals (faces map the codes)."""

from __future__ import annotations

from hangar.core.errors import HangarError, NotFound


class NotQueueMode(HangarError):
    """Tasks were sent to an endpoint that is not in QUEUE mode."""

    code = "not-queue-mode"
    default_message = "Tasks can only be submitted to QUEUE endpoints."


class QueueUnavailable(HangarError):
    """The endpoint cannot run tasks now (stopped, stopping or failed)."""

    code = "queue-unavailable"
    default_message = "The endpoint is not running."


def task_missing(key: str) -> NotFound:
    return NotFound("task", f"No task {key} in this endpoint.")
