"""The event envelope: what happened (a kind), to what (a subject), whose (a tenant), when,
and a payload dataclass whose type the kind fixes.

The core speaks only these kinds; each face turns them into its own wire names (Backend.AI's
``session_started``/``kernel_started``, a webhook's ``started``, ...).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime


class EventKind(enum.StrEnum):
    """What happened. Values are stable: they travel between processes (see codec)."""

    SESSION_ENQUEUED = "session.enqueued"
    SESSION_SCHEDULED = "session.scheduled"
    SESSION_PREPARING = "session.preparing"
    SESSION_STARTED = "session.started"
    SESSION_RESTARTING = "session.restarting"
    SESSION_RESTARTED = "session.restarted"
    SESSION_TERMINATING = "session.terminating"
    SESSION_TERMINATED = "session.terminated"
    SESSION_CANCELLED = "session.cancelled"
    SESSION_SUCCEEDED = "session.succeeded"  # a batch session's command exited 0
    SESSION_FAILED = "session.failed"  # its command failed, or the session could not start
    SESSION_SUSPENDED = "session.suspended"  # stopped, slots released, scratch dir kept
    SESSION_RESUMED = "session.resumed"  # queued to be placed again on its agent
    TASK_PROGRESSED = "task.progressed"  # a background task reported how far it got
    TASK_FINISHED = "task.finished"  # a background task ended: done, failed or cancelled
    QUEUE_ENTRY_ADDED = "queue.entry-added"  # a task joined a queue (workers: look now)
    ENDPOINT_WORKER = "endpoint.worker"  # an endpoint's worker became RUNNING or went
    ENDPOINT_LOAD = "endpoint.load"  # tasks waiting and requests open seen by one process
    ENDPOINT_WOKEN = "endpoint.woken"  # demand on an endpoint (back from zero workers)
    ENDPOINT_SUSPECT = "endpoint.suspect"  # a caller saw a worker refuse: check it now
    ENDPOINT_CHANGED = "endpoint.changed"  # its owner changed it (scale, update, stop, ...)


@dataclass(frozen=True, slots=True)
class Tenant:
    """Whose event it is: the owning user and project (group; None for what belongs to a
    user alone, such as a background task) and their domain. Subscribers are scoped by a
    predicate over this, never by a face's credential."""

    user_id: uuid.UUID
    project_id: uuid.UUID | None
    domain: str


@dataclass(frozen=True, slots=True)
class SessionChange:
    """The payload of every ``SESSION_*`` kind.

    ``credential``: the id of the credential the session belongs to (a keypair's access key
    today), which faces that address sessions by credential translate. ``exit_code``: set for
    SUCCEEDED/FAILED when a command ended with one. ``callback_url``: the session's own
    (where its lifecycle webhooks go), so that the notifier need not read the session.
    """

    session_name: str
    credential: str
    reason: str = ""
    exit_code: int | None = None
    callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class TaskChange:
    """The payload of the ``TASK_*`` kinds: a background task's state after the change.
    ``status``: running, done, failed or cancelled; progress is ``current`` of ``total``
    (0: unknown)."""

    task_kind: str
    status: str
    current: int
    total: int
    message: str


@dataclass(frozen=True, slots=True)
class QueueChange:
    """The payload of the ``QUEUE_*`` kinds: which queue, and the task that joined it."""

    queue_id: str
    task_id: str


@dataclass(frozen=True, slots=True)
class EndpointHint:
    """The payload of the ``ENDPOINT_*`` kinds: hints between the server processes that
    serve endpoints (the database stays the record). ``origin``: the publishing process;
    ``status`` (a worker status word) and ``reason`` for ``ENDPOINT_WORKER``; ``queued``
    (tasks waiting, the database's count) and ``in_flight`` (requests open in ``origin``)
    for ``ENDPOINT_LOAD``."""

    endpoint_id: int
    origin: str
    worker_id: int | None = None
    status: str | None = None
    reason: str | None = None
    queued: int | None = None
    in_flight: int | None = None


Payload = SessionChange | TaskChange | QueueChange | EndpointHint


def _payload_type(kind: EventKind) -> type[Payload]:
    if kind.value.startswith("queue."):
        return QueueChange
    if kind.value.startswith("endpoint."):
        return EndpointHint
    return TaskChange if kind.value.startswith("task.") else SessionChange


# Which payload class each kind carries; checked when an Event is built.
PAYLOAD_TYPES: dict[EventKind, type[Payload]] = {kind: _payload_type(kind) for kind in EventKind}


@dataclass(frozen=True, slots=True)
class Event:
    """One published event. ``subject``: the id of the thing it is about (a session's, a
    background task's)."""

    kind: EventKind
    subject: uuid.UUID
    tenant: Tenant
    payload: Payload
    at: datetime

    def __post_init__(self) -> None:
        expected = PAYLOAD_TYPES[self.kind]
        if not isinstance(self.payload, expected):
            raise TypeError(f"{self.kind} carries {expected.__name__}, not {self.payload!r}")
