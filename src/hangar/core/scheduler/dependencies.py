"""Whether a session's dependencies let it start, wait, or doom it. Pure: no I/O.

A dependency is *done* once it TERMINATED without a failed result (a batch session that exited
0, or an interactive one that was shut down). It *failed* when it ended in ERROR, was
CANCELLED, or TERMINATED with a FAILURE result (a non-zero exit code, or a batch run cut
short): a session that depends on it can never start and is cancelled. Anything else is
still on its way, and the dependent waits.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

DONE_STATUS = "TERMINATED"
FAILED_STATUSES = frozenset({"ERROR", "CANCELLED"})
FAILED_RESULT = "FAILURE"


class Verdict(enum.Enum):
    READY = "ready"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DependencyState:
    """Where one dependency stands: its status and result as stored (``SessionStatus`` and
    ``SessionResult`` values)."""

    id: uuid.UUID
    name: str
    status: str
    result: str = "UNDEFINED"

    @property
    def label(self) -> str:
        return f"{self.name} ({str(self.id)[:8]})"

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES or (
            self.status == DONE_STATUS and self.result == FAILED_RESULT
        )

    @property
    def done(self) -> bool:
        return self.status == DONE_STATUS and not self.failed


@dataclass(frozen=True, slots=True)
class DependencyCheck:
    verdict: Verdict
    reason: str | None = None  # None when READY


def check_dependencies(dependencies: Sequence[DependencyState]) -> DependencyCheck:
    """READY when every dependency is done; FAILED (with the first failed one, in the given
    order) when any failed; otherwise WAITING, naming those not done yet."""
    for dep in dependencies:
        if dep.failed:
            how = dep.status if dep.status != DONE_STATUS else f"{dep.status} with {dep.result}"
            return DependencyCheck(Verdict.FAILED, f"dependency {dep.label} ended {how}; cancelled")
    waiting = [dep for dep in dependencies if not dep.done]
    if not waiting:
        return DependencyCheck(Verdict.READY)
    listed = ", ".join(f"{dep.label} {dep.status}" for dep in waiting[:5])
    more = f" and {len(waiting) - 5} more" if len(waiting) > 5 else ""
    return DependencyCheck(Verdict.WAITING, f"waiting for dependencies: {listed}{more}")
