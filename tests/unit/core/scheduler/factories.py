"""Builders for scheduler inputs with small, readable defaults."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hangar.core.identity.models import DefaultForUnspecified
from hangar.core.scheduler import (
    AgentState,
    GpuDevice,
    PendingSession,
    PolicyUsage,
    ResourceSlots,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = uuid.UUID(int=0)
GIB = 1 << 30


def slots(**amounts: object) -> ResourceSlots:
    """``slots(cpu=1, mem="1g", cuda_shares="0.5")``: underscores stand for dots."""
    return ResourceSlots.parse({k.replace("_", "."): v for k, v in amounts.items()})


def sid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def agent(
    id: str,
    *,
    group: str = "default",
    cpu: object = 8,
    mem: object = "32g",
    used_cpu: object = 0,
    used_mem: object = 0,
    gpus: Sequence[object] = (),
    schedulable: bool = True,
) -> AgentState:
    """An agent; ``gpus`` lists the shares already allocated on each device (capacity 1)."""
    devices = tuple(
        GpuDevice(f"cuda{i}", Decimal(1), Decimal(str(used))) for i, used in enumerate(gpus)
    )
    return AgentState(
        id=id,
        scaling_group=group,
        available_slots=slots(cpu=cpu, mem=mem),
        occupied_slots=slots(cpu=used_cpu, mem=used_mem),
        devices=devices,
        schedulable=schedulable,
    )


def session(
    n: int,
    *,
    key: str = "AK1",
    group: str = "default",
    at: int | None = None,
    priority: int = 0,
    cluster_size: int = 1,
    image_min: ResourceSlots | None = None,
    image_max: ResourceSlots | None = None,
    requested: Mapping[str, object] | None = None,
    **amounts: object,
) -> PendingSession:
    """Session ``n`` created ``at`` seconds after T0 (default ``n``).

    It requests ``requested`` (slot names as given) plus ``amounts`` (as for :func:`slots`);
    with neither, one core and 1 GiB.
    """
    wanted = {k.replace("_", "."): v for k, v in amounts.items()} | dict(requested or {})
    return PendingSession(
        id=sid(n),
        usage_key=key,
        user_uuid=OWNER,
        group_id=OWNER,
        domain_name="default",
        scaling_group=group,
        requested=ResourceSlots.parse(wanted or {"cpu": 1, "mem": "1g"}),
        created_at=T0 + timedelta(seconds=n if at is None else at),
        priority=priority,
        cluster_size=cluster_size,
        image_min=image_min or ResourceSlots(),
        image_max=image_max or ResourceSlots(),
    )


def usage(
    *,
    used: int = 0,
    limit: int | None = None,
    occupied: ResourceSlots | None = None,
    totals: dict[str, object] | None = None,
    default: DefaultForUnspecified = DefaultForUnspecified.UNLIMITED,
) -> PolicyUsage:
    return PolicyUsage(
        concurrency_used=used,
        concurrency_limit=limit,
        occupied=occupied or ResourceSlots(),
        total_slots=ResourceSlots.parse(totals or {}, allow_unlimited=True),
        default_for_unspecified=default,
    )
