"""What a worker's answer (or its silence) makes of a task (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from hangar.core.endpoint_tasks.models import TaskStatus

MAX_SENDS = 2  # a task goes out again once after its worker died


@dataclass(frozen=True, slots=True)
class Outcome:
    status: TaskStatus | None  # None: back to the queue
    output_json: str | None = None
    error: str | None = None
    unsent: bool = False  # the worker refused the connection: this send does not count


REQUEUE = Outcome(None)
NOT_SENT = Outcome(None, unsent=True)


def _as_json(body: bytes) -> str:
    try:
        json.loads(body)
        return body.decode()
    except ValueError:
        return json.dumps({"raw": body.decode("utf-8", "replace")})


def answered(status: int, body: bytes) -> Outcome:
    """2xx: SUCCESS with the body as output (non-JSON kept as ``{"raw": text}``); else
    FAILED naming the HTTP status."""
    if 200 <= status < 300:
        return Outcome(TaskStatus.SUCCESS, _as_json(body))
    text = body[:500].decode("utf-8", "replace")
    return Outcome(TaskStatus.FAILED, _as_json(body) if body else None,
                   f"The worker answered HTTP {status}: {text}".rstrip(": "))  # fmt: skip


def died(sends: int, reason: str) -> Outcome:
    """The worker went away (refused, closed without an answer, ended): the task goes out
    again once, then fails with the reason."""
    if sends < MAX_SENDS:
        return REQUEUE
    return Outcome(TaskStatus.FAILED, None, f"The worker died twice while running it: {reason}")


def timed_out(seconds: float) -> Outcome:
    return Outcome(TaskStatus.FAILED, None, f"The worker did not answer within {seconds:g} s.")
