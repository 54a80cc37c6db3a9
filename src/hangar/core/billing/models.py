"""The billing domain's values: what is metered, prices, limits, usage lines."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


class Metered(StrEnum):
    """What a cost is asked for (or a new paid resource is admitted as). POD, VM and
    ENDPOINT are compute sessions by their origin (``Origin(kind, ref=str(id))``): the cost
    of a pod is that of every session with origin pod and that ref; SESSION is one session by
    its id; VOLUME is a volume's storage by its id."""

    POD = "pod"
    VM = "vm"
    ENDPOINT = "endpoint"
    SESSION = "session"
    VOLUME = "volume"


class LimitScope(StrEnum):
    USER = "user"
    PROJECT = "project"


@dataclass(frozen=True, slots=True)
class Prices:
    """Prices per hour, in the installation's currency (USD by default): per device of a GPU
    type (by its catalogue code, e.g. ``NVIDIA_H100_80G``), per CPU core, per GiB of memory,
    per GiB of storage (volumes, a session's scratch disk). Unset prices are 0."""

    gpu: Mapping[str, Decimal] = field(default_factory=dict)
    cpu_core: Decimal = ZERO
    memory_gib: Decimal = ZERO
    storage_gib: Decimal = ZERO
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class DailyLimit:
    """At most ``amount`` per UTC day for a user or a project; ``automatic`` also pauses the
    running pods (suspends the sessions of origin pod) of whoever reached it."""

    scope: LimitScope
    subject: uuid.UUID
    amount: Decimal
    automatic: bool = False
    label: str = ""  # the user's email or the project's name, for reports


@dataclass(frozen=True, slots=True)
class UsageLine:
    """The cost of one user or project over a period, and what made it up."""

    subject: uuid.UUID
    label: str
    cost: Decimal
    gpu_hours: Decimal
    cpu_core_hours: Decimal
    storage_gib_hours: Decimal
    items: int  # sessions and volumes metered in the period


@dataclass(frozen=True, slots=True)
class Usage:
    start: datetime
    end: datetime
    by_user: tuple[UsageLine, ...]
    by_project: tuple[UsageLine, ...]
    currency: str = "USD"

    @property
    def total(self) -> Decimal:
        return sum((line.cost for line in self.by_user), ZERO)


class MeterKind(StrEnum):
    RUN = "run"  # a session's running time: GPUs, CPU cores, memory
    DISK = "disk"  # a session's scratch disk, from its first start until it ends
    VOLUME = "volume"  # a volume's storage, from creation until deletion


@dataclass(frozen=True, slots=True)
class Resources:
    """What a meter charges for: devices per GPU type, CPU cores, GiB of memory and of
    storage."""

    gpus: Mapping[str, Decimal] = field(default_factory=dict)
    cpu_cores: Decimal = ZERO
    memory_gib: Decimal = ZERO
    storage_gib: Decimal = ZERO

    def to_record(self) -> dict[str, object]:
        return {
            "gpus": {code: str(n) for code, n in self.gpus.items()},
            "cpu": str(self.cpu_cores),
            "mem_gib": str(self.memory_gib),
            "storage_gib": str(self.storage_gib),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> Resources:
        gpus = record.get("gpus")
        return cls(
            gpus={str(k): Decimal(str(v)) for k, v in gpus.items()}
            if isinstance(gpus, dict)
            else {},
            cpu_cores=Decimal(str(record.get("cpu", "0"))),
            memory_gib=Decimal(str(record.get("mem_gib", "0"))),
            storage_gib=Decimal(str(record.get("storage_gib", "0"))),
        )


@dataclass(frozen=True, slots=True)
class Meter:
    """One period of one subject at one rate per hour; open while ``ended_at`` is None."""

    kind: MeterKind
    subject_id: str
    origin_kind: str
    origin_ref: str | None
    user_uuid: uuid.UUID
    group_id: uuid.UUID
    rate: Decimal
    resources: Resources
    started_at: datetime
    ended_at: datetime | None = None
    id: int | None = None
