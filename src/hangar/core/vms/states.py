"""A VM's status is its session's: queued or starting -> initializing, RUNNING -> running,
SUSPENDED (preempted, devices released, disk kept) -> stopped, ended -> terminated."""

from __future__ import annotations

from hangar.core.compute.states import SessionStatus as S
from hangar.core.vms.models import VmStatus

_OF_SESSION = {
    S.PENDING: VmStatus.INITIALIZING,
    S.SCHEDULED: VmStatus.INITIALIZING,
    S.PREPARING: VmStatus.INITIALIZING,
    S.PULLING: VmStatus.INITIALIZING,
    S.RESTARTING: VmStatus.INITIALIZING,
    S.RUNNING: VmStatus.RUNNING,
    S.SUSPENDED: VmStatus.STOPPED,
}


def vm_status(session: S | None, *, terminated: bool) -> VmStatus:
    """What a VM whose session is in ``session`` (None: gone) shows."""
    if terminated or session is None:
        return VmStatus.TERMINATED
    return _OF_SESSION.get(session, VmStatus.TERMINATED)
