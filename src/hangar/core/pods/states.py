"""A pod's status is its session's, in the pod's words; what each pod operation needs.

| session                                    | pod          |
|--------------------------------------------|--------------|
| none yet, PENDING .. PULLING, RESTARTING   | INITIALIZING |
| RUNNING                                    | RUNNING      |
| SUSPENDED                                  | STOPPED      |
| TERMINATING                                | TERMINATING  |
| TERMINATED, CANCELLED (or the pod deleted) | TERMINATED   |
| ERROR                                      | FAILED       |

Pause needs RUNNING; resume needs STOPPED; delete works from anything but TERMINATED.
"""

from __future__ import annotations

from hangar.core.compute.states import SessionStatus
from hangar.core.pods.models import PodStatus

S = SessionStatus
P = PodStatus

_OF_SESSION: dict[SessionStatus, PodStatus] = {
    S.PENDING: P.INITIALIZING,
    S.SCHEDULED: P.INITIALIZING,
    S.PREPARING: P.INITIALIZING,
    S.PULLING: P.INITIALIZING,
    S.RESTARTING: P.INITIALIZING,
    S.RUNNING: P.RUNNING,
    S.SUSPENDED: P.STOPPED,
    S.TERMINATING: P.TERMINATING,
    S.TERMINATED: P.TERMINATED,
    S.CANCELLED: P.TERMINATED,
    S.ERROR: P.FAILED,
}


def pod_status(session: SessionStatus | None, *, deleted: bool) -> PodStatus:
    """The pod's status from its session's (None: not written yet)."""
    if session is None:
        return P.TERMINATED if deleted else P.INITIALIZING
    status = _OF_SESSION[session]
    if deleted and status not in (P.TERMINATED, P.FAILED):
        return P.TERMINATING
    return status


CAN_PAUSE = frozenset({P.RUNNING})
CAN_RESUME = frozenset({P.STOPPED})
LIVE = frozenset(set(P) - {P.TERMINATED})
"""Pods that still hold something (their registry credential among it)."""
