"""Pure scheduling: which pending sessions run on which agents. No database, no I/O.

Entry point: :func:`schedule`. Inputs and outputs are the frozen values of :mod:`.model`;
amounts are :class:`ResourceSlots`.
"""

from hangar.core.scheduler.dependencies import (
    DependencyCheck,
    DependencyState,
    Verdict,
    check_dependencies,
)
from hangar.core.scheduler.model import (
    AgentState,
    Assignment,
    DeviceAllocation,
    GpuDevice,
    PendingSession,
    PolicyUsage,
    SchedulePlan,
    StillPending,
)
from hangar.core.scheduler.policies import POLICIES, Drf, Fifo, Lifo, Policy, get_policy
from hangar.core.scheduler.predicates import (
    DEFAULT_PREDICATES,
    ClusterSize,
    ConcurrencyLimit,
    DependenciesMet,
    ImageSlots,
    NotBefore,
    Predicate,
    ResourceTotals,
    ScalingGroupMatch,
)
from hangar.core.scheduler.scheduler import PassState, schedule
from hangar.core.scheduler.slots import EMPTY_SLOTS, ResourceSlots

__all__ = [
    "DEFAULT_PREDICATES",
    "EMPTY_SLOTS",
    "POLICIES",
    "AgentState",
    "Assignment",
    "ClusterSize",
    "DependenciesMet",
    "DependencyCheck",
    "DependencyState",
    "DeviceAllocation",
    "Drf",
    "Fifo",
    "GpuDevice",
    "ImageSlots",
    "ConcurrencyLimit",
    "ResourceTotals",
    "PolicyUsage",
    "Lifo",
    "NotBefore",
    "PassState",
    "PendingSession",
    "Policy",
    "Predicate",
    "ResourceSlots",
    "ScalingGroupMatch",
    "SchedulePlan",
    "StillPending",
    "Verdict",
    "check_dependencies",
    "get_policy",
    "schedule",
]
