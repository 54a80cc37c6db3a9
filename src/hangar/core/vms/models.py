"""VM domain types."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

VM_IMAGE = "python"  # the host's Python environment: sshd, a shell, the user's tools
CPU_PER_GPU = 1
MEMORY_GB_PER_GPU = 2


class VmStatus(StrEnum):
    INITIALIZING = "initializing"
    RUNNING = "running"
    STOPPED = "stopped"  # its session SUSPENDED (a preempted spot VM): disk kept, no devices
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class VmRequest:
    """A new VM: ``gpu_type`` (a catalogue code, kept for display and prices) of the devices
    with ``model``/``memory_bytes`` in ``scaling_group``; ``mounts``: volume id -> path."""

    name: str
    vm_type_id: int
    gpu_type: str
    model: str
    memory_bytes: int
    scaling_group: str
    gpu_count: int = 1
    is_spot: bool = False
    mounts: Mapping[int, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Vm:
    id: int
    owner_uuid: uuid.UUID
    name: str
    vm_type_id: int
    gpu_type: str
    gpu_count: int
    scaling_group: str
    is_spot: bool
    session_id: uuid.UUID | None
    status: VmStatus
    created_at: datetime
    terminated_at: datetime | None
    status_info: str | None = None
    disk_gb: int = 0  # its disk, the session's scratch dir (kept while stopped); 0: unlimited

    @property
    def session_name(self) -> str:
        return session_name(self.id)

    @property
    def cpu_cores(self) -> int:
        return CPU_PER_GPU * self.gpu_count

    @property
    def memory_gb(self) -> int:
        return MEMORY_GB_PER_GPU * self.gpu_count


def session_name(vm_id: int) -> str:
    return f"vm-{vm_id}"
