"""Compute session statuses and the moves between them.

Only ``hangar.core.compute`` changes a session's status, always through
``ComputeRepo.transition`` which checks this table and compare-and-sets on the old status.
"""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    PREPARING = "PREPARING"
    PULLING = "PULLING"
    RUNNING = "RUNNING"
    RESTARTING = "RESTARTING"
    SUSPENDED = "SUSPENDED"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"


class SessionType(StrEnum):
    INTERACTIVE = "interactive"
    BATCH = "batch"


class SessionResult(StrEnum):
    UNDEFINED = "UNDEFINED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


S = SessionStatus

ALLOWED: dict[SessionStatus, frozenset[SessionStatus]] = {
    S.PENDING: frozenset({S.SCHEDULED, S.CANCELLED, S.ERROR}),
    S.SCHEDULED: frozenset({S.PREPARING, S.TERMINATING, S.ERROR, S.CANCELLED}),
    S.PREPARING: frozenset({S.PULLING, S.RUNNING, S.TERMINATING, S.ERROR}),
    S.PULLING: frozenset({S.PREPARING, S.RUNNING, S.TERMINATING, S.ERROR}),
    S.RUNNING: frozenset({S.RESTARTING, S.TERMINATING, S.ERROR, S.SUSPENDED}),
    S.RESTARTING: frozenset({S.RUNNING, S.TERMINATING, S.ERROR}),
    S.SUSPENDED: frozenset({S.PENDING, S.TERMINATING}),  # resumed: placed again
    S.TERMINATING: frozenset({S.TERMINATED, S.ERROR}),
    S.ERROR: frozenset({S.TERMINATING, S.TERMINATED}),
    S.TERMINATED: frozenset(),
    S.CANCELLED: frozenset(),
}

DEAD = frozenset({S.TERMINATED, S.CANCELLED})
"""Statuses of sessions that no longer hold a name or resources."""

HOLDS_RESOURCES = frozenset(
    {S.SCHEDULED, S.PREPARING, S.PULLING, S.RUNNING, S.RESTARTING, S.TERMINATING}
)
"""Statuses in which a session occupies slots on an agent."""


def can_move(old: SessionStatus, new: SessionStatus) -> bool:
    return new in ALLOWED[old]
