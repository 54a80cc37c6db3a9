"""What sessions used over a period, per group, and what the installation holds: typed
figures each face renders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from hangar.agent.models import ContainerStats
from hangar.core.compute.stats import stats_of
from hangar.core.identity.models import Group
from hangar.core.resources.repo import Preset, SessionUsage

Slots = dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class SessionUse:
    """One session that lived within the period, with what it held and used."""

    name: str
    access_key: str | None  # its keypair's (None: another credential, or the keypair is gone)
    image: str
    used_days: int  # calendar days it touched, at least 1
    used_seconds: float  # from its start (or creation) to its end (or now)
    created_at: datetime
    terminated_at: datetime | None
    status: str
    cpus: Decimal  # CPU cores it held
    mem_allocated: Decimal  # bytes of memory it held
    cpu_used: int  # CPU time, milliseconds
    mem_used: int  # peak memory, bytes
    io_read: int  # bytes
    io_write: int  # bytes
    mounts: list[Any]  # its folder mounts as stored
    uses_gpu: bool  # whether it held CUDA devices


@dataclass(frozen=True, slots=True)
class GroupUse:
    """A group's sessions within the period."""

    group_id: uuid.UUID
    group_name: str
    domain_name: str
    sessions: list[SessionUse]


def session_use(session: SessionUsage, now: datetime) -> SessionUse:
    ended = session.terminated_at or now
    occupied = session.occupied_slots or {}
    figures = stats_of(session.last_stat) or ContainerStats()
    return SessionUse(
        name=session.name,
        access_key=session.access_key,
        image=session.image_ref,
        used_days=max(1, (ended.date() - session.created_at.date()).days + 1),
        used_seconds=max(0.0, (ended - (session.started_at or session.created_at)).total_seconds()),
        created_at=session.created_at,
        terminated_at=session.terminated_at,
        status=session.status,
        cpus=Decimal(str(occupied.get("cpu", "0"))),
        mem_allocated=Decimal(str(occupied.get("mem", "0"))),
        cpu_used=figures.cpu_used,
        mem_used=max(figures.mem_max_bytes, figures.mem_cur_bytes),
        io_read=figures.io_read_bytes,
        io_write=figures.io_write_bytes,
        mounts=list(session.mounts or []),
        uses_gpu=any(k.startswith("cuda.") for k in occupied),
    )


def group_use(group: Group, sessions: list[SessionUse]) -> GroupUse:
    return GroupUse(group.id, group.name, group.domain_name, sessions)


@dataclass(frozen=True, slots=True)
class Budget:
    """Slot amounts by name: the limit (Infinity: unlimited), what is held, what remains."""

    limits: Slots
    using: Slots
    remaining: Slots


@dataclass(frozen=True, slots=True)
class PresetFit:
    preset: Preset
    allocatable: bool  # fits in every remaining budget


@dataclass(frozen=True, slots=True)
class Headroom:
    """What a caller may still launch: their own policy's budget, their group's, the free
    capacity of the scaling groups they may use (in all, and each as (using, free)), and
    which presets fit."""

    own: Budget
    group: Budget
    scaling_group_remaining: Slots
    scaling_groups: dict[str, tuple[Slots, Slots]]
    presets: list[PresetFit]


@dataclass(frozen=True, slots=True)
class AgentDevice:
    """One accelerator of an agent, as the agent reports it (model, memory, ...)."""

    agent_id: str
    agent_status: str
    device: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StorageCapacity:
    """A storage host's size and what is used of it (None: unknown)."""

    host: str
    capacity_bytes: int | None
    used_bytes: int | None


@dataclass(frozen=True, slots=True)
class Inventory:
    """What the installation holds: agents, their slots in all and held by sessions, their
    accelerators, and the storage."""

    agents: int
    capacity: Slots
    using: Slots
    devices: list[AgentDevice]
    storage: list[StorageCapacity]
