"""What the scheduler reads and what it decides: frozen values, no I/O.

Slot naming follows Backend.AI: an agent's ``available_slots`` is its *capacity* and
``occupied_slots`` what is in use. GPU capacity is never given as slots: it comes from the
agent's ``devices`` (each with a capacity in shares), so that whole-device (``cuda.device``)
and fractional (``cuda.shares``) allocations are both tracked per device.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hangar.core.identity.models import DefaultForUnspecified
from hangar.core.scheduler.dependencies import DependencyState
from hangar.core.scheduler.slots import (
    CUDA_DEVICE,
    CUDA_SHARES,
    EMPTY_SLOTS,
    GPU_SLOTS,
    INFINITY,
    ZERO,
    ResourceSlots,
)

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """One accelerator of an agent: its capacity in shares and how much is allocated.

    A device with nothing allocated can be handed out whole (``cuda.device``); otherwise only
    its free shares can be used (``cuda.shares``). ``model`` is what its agent reported (a
    session may want one model only).
    """

    id: str
    capacity: Decimal = ONE
    allocated: Decimal = ZERO
    model: str = ""

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.allocated < 0:
            raise ValueError(f"GPU device {self.id!r}: capacity > 0 and allocated >= 0")

    @property
    def free(self) -> Decimal:
        """Shares still free; never negative, even for an over-reported allocation."""
        return max(self.capacity - self.allocated, ZERO)


@dataclass(frozen=True, slots=True)
class AgentState:
    """An agent as the scheduler sees it at the start of a pass.

    Raises ValueError if ``available_slots``/``occupied_slots`` carry GPU slots (GPU
    capacity and use come from ``devices`` only) or an infinite amount. Device ids must be
    unique within the agent.
    """

    id: str
    scaling_group: str
    available_slots: ResourceSlots
    occupied_slots: ResourceSlots = EMPTY_SLOTS
    devices: tuple[GpuDevice, ...] = ()
    schedulable: bool = True

    def __post_init__(self) -> None:
        for slots in (self.available_slots, self.occupied_slots):
            if GPU_SLOTS & slots.keys():
                raise ValueError(f"agent {self.id!r}: GPU capacity comes from devices, not slots")
            if not all(amount.is_finite() for amount in slots.values()):
                raise ValueError(f"agent {self.id!r}: slots must be finite")
        if len({d.id for d in self.devices}) != len(self.devices):
            raise ValueError(f"agent {self.id!r}: duplicate device ids")

    def capacity(self) -> ResourceSlots:
        """All capacity as slots, GPU included (``cuda.device`` = devices, ``cuda.shares``)."""
        if not self.devices:
            return self.available_slots
        gpus = {
            CUDA_DEVICE: Decimal(len(self.devices)),
            CUDA_SHARES: sum((d.capacity for d in self.devices), ZERO),
        }
        return self.available_slots + ResourceSlots(gpus)


@dataclass(frozen=True, slots=True)
class PendingSession:
    """A compute session waiting in PENDING.

    ``requested`` is per kernel; ``image_min``/``image_max`` bound it slot by slot (a slot
    absent from them is unbounded). ``not_before`` (``starts_at``) holds it back until then;
    ``dependencies`` must all be done first; ``agent_ids``, when given, are the only agents
    it may run on. Raises ValueError for a fractional ``cuda.device``.
    """

    id: uuid.UUID
    usage_key: str  # whose resource policy and usage it counts against (see compute.placement)
    user_uuid: uuid.UUID
    group_id: uuid.UUID
    domain_name: str
    scaling_group: str
    requested: ResourceSlots
    created_at: datetime
    priority: int = 0
    cluster_size: int = 1
    image_min: ResourceSlots = EMPTY_SLOTS
    image_max: ResourceSlots = EMPTY_SLOTS
    not_before: datetime | None = None
    dependencies: tuple[DependencyState, ...] = ()
    agent_ids: frozenset[str] = frozenset()
    device_model: str = ""  # only devices of this model (empty: any)

    def __post_init__(self) -> None:
        devices = self.requested.amount(CUDA_DEVICE)
        if devices != devices.to_integral_value() or not devices.is_finite():
            raise ValueError(f"session {self.id}: cuda.device must be a whole number")
        if any(not amount.is_finite() for amount in self.requested.values()):
            raise ValueError(f"session {self.id}: requested slots must be finite")


@dataclass(frozen=True, slots=True)
class PolicyUsage:
    """A usage key's standing at the start of a pass: sessions and slots already in use
    under one resource policy (a keypair's, or a user's; see ``PendingSession.usage_key``).

    ``concurrency_used`` counts the key's sessions that hold resources (scheduled or later);
    ``concurrency_limit`` None means unlimited. ``total_slots`` is the resource policy's
    ``total_resource_slots``; a slot it does not name is 0 under LIMITED and unlimited
    under UNLIMITED (``default_for_unspecified``).
    """

    concurrency_used: int = 0
    concurrency_limit: int | None = None
    occupied: ResourceSlots = EMPTY_SLOTS
    total_slots: ResourceSlots = EMPTY_SLOTS
    default_for_unspecified: DefaultForUnspecified = DefaultForUnspecified.UNLIMITED

    def limit_for(self, slot: str) -> Decimal:
        """The policy's total for ``slot``; ``Decimal('Infinity')`` when unlimited."""
        limit = self.total_slots.get(slot)
        if limit is not None:
            return limit
        if self.default_for_unspecified is DefaultForUnspecified.UNLIMITED:
            return INFINITY
        return ZERO


@dataclass(frozen=True, slots=True)
class DeviceAllocation:
    """Shares of one GPU device given to a session; ``whole`` for a ``cuda.device`` grant."""

    device_id: str
    shares: Decimal
    whole: bool


@dataclass(frozen=True, slots=True)
class Assignment:
    """A decision to run a session on an agent, with the exact slots and devices reserved."""

    session_id: uuid.UUID
    usage_key: str
    agent_id: str
    scaling_group: str
    allocated: ResourceSlots
    devices: tuple[DeviceAllocation, ...] = ()


@dataclass(frozen=True, slots=True)
class StillPending:
    """A session left in PENDING by this pass, and the first reason found."""

    session_id: uuid.UUID
    reason: str


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    """The outcome of one pass: both tuples are in decision order and cover every session."""

    assignments: tuple[Assignment, ...] = ()
    pending: tuple[StillPending, ...] = ()

    def reasons(self) -> dict[uuid.UUID, str]:
        """Why each session stays pending, by session id."""
        return {p.session_id: p.reason for p in self.pending}
