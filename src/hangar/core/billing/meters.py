"""Pure decisions: what a session's meters charge for, at which rate, when they open and
close, and what a meter cost over a period. The service loads and applies."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from hangar.core.billing.models import ZERO, Meter, MeterKind, Prices, Resources
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.states import SessionStatus
from hangar.util.gputypes import gpu_type

S = SessionStatus
GIB = Decimal(1 << 30)
HOUR = Decimal(3600)
CENT_FRACTION = Decimal("0.000001")  # costs are kept to a millionth of the currency

RUNNING = frozenset({S.RUNNING, S.RESTARTING})
# how a running session stops (it reaches PENDING again only through SUSPENDED)
LEFT_RUNNING = (S.SUSPENDED, S.TERMINATING, S.TERMINATED, S.ERROR)
ENDED = frozenset({S.TERMINATED, S.CANCELLED, S.ERROR})
PRICE_KEYS = ("cpu", "memory", "storage")


def prices_from(table: Mapping[str, Decimal]) -> Prices:
    """The price table's rows (``cpu``, ``memory``, ``storage``, ``gpu:<code>``) as Prices."""
    gpus = {k.removeprefix("gpu:"): v for k, v in table.items() if k.startswith("gpu:")}
    return Prices(
        gpu=gpus,
        cpu_core=table.get("cpu", ZERO),
        memory_gib=table.get("memory", ZERO),
        storage_gib=table.get("storage", ZERO),
    )


def rate_of(resources: Resources, prices: Prices) -> Decimal:
    """The price per hour of ``resources``."""
    gpus = sum((prices.gpu.get(code, ZERO) * n for code, n in resources.gpus.items()), ZERO)
    return (
        gpus
        + prices.cpu_core * resources.cpu_cores
        + prices.memory_gib * resources.memory_gib
        + prices.storage_gib * resources.storage_gib
    )


def accrued(meter: Meter, start: datetime | None, end: datetime) -> Decimal:
    """What ``meter`` cost during [start, end) (an open meter runs until ``end``)."""
    begin = meter.started_at if start is None else max(meter.started_at, start)
    stop = end if meter.ended_at is None else min(meter.ended_at, end)
    seconds = Decimal(str(max((stop - begin).total_seconds(), 0.0)))
    return meter.rate * seconds / HOUR


def money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT_FRACTION)


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return ZERO


def device_key(device: Mapping[str, Any]) -> str:
    return str(device.get("id") or device.get("uuid") or device.get("index"))


def run_resources(session: ComputeSession, devices: Mapping[str, Mapping[str, Any]]) -> Resources:
    """What a running session holds: its devices by GPU type (``devices``: its agent's
    devices by id), CPU cores and memory from its occupied slots."""
    gpus: dict[str, Decimal] = {}
    for alloc in session.device_allocations:
        device = devices.get(str(alloc.get("device")), {})
        model = str(device.get("model") or "GPU")
        code = gpu_type(model, int(device.get("memory_bytes") or 0)).code
        share = Decimal(1) if alloc.get("whole", True) else _decimal(alloc.get("shares", 0))
        gpus[code] = gpus.get(code, ZERO) + share
    slots = session.occupied_slots or session.requested_slots
    return Resources(
        gpus=gpus,
        cpu_cores=_decimal(slots.get("cpu", 0)),
        memory_gib=_decimal(slots.get("mem", 0)) / GIB,
    )


def disk_gib(session: ComputeSession) -> Decimal:
    """The scratch disk a session was given (0: none asked for)."""
    return _decimal(session.resource_opts.get("disk") or 0) / GIB


def _at(session: ComputeSession, status: SessionStatus) -> datetime | None:
    raw = session.status_history.get(status.value)
    if raw is None:
        return None
    when = datetime.fromisoformat(raw)
    return when if when.tzinfo is not None else when.replace(tzinfo=session.created_at.tzinfo)


def running_since(session: ComputeSession) -> datetime:
    return _at(session, S.RUNNING) or session.status_changed


def left_running(session: ComputeSession, after: datetime) -> datetime | None:
    """The first time after ``after`` the session left its running state, as recorded."""
    times = [t for s in LEFT_RUNNING if (t := _at(session, s)) is not None and t > after]
    return min(times) if times else None


@dataclass
class Plan:
    """What a metering pass does: close these meters at these times, open those."""

    closes: list[tuple[int, datetime]] = field(default_factory=list)
    opens: list[Meter] = field(default_factory=list)


def _new(
    kind: MeterKind, session: ComputeSession, resources: Resources, prices: Prices, at: datetime
) -> Meter:
    return Meter(
        kind=kind, subject_id=str(session.id), origin_kind=session.origin.kind.value,
        origin_ref=session.origin.ref, user_uuid=session.user_uuid,
        group_id=session.group_id, rate=rate_of(resources, prices), resources=resources,
        started_at=at,
    )  # fmt: skip


def plan_runs(
    open_meters: Iterable[Meter],
    sessions: Mapping[uuid.UUID, ComputeSession],
    last_end: Mapping[str, datetime],
    devices: Mapping[str, Mapping[str, Mapping[str, Any]]],
    prices: Prices,
    now: datetime,
) -> Plan:
    """Running-time meters: one open per running session, from when it started running (or
    its last meter ended), closed when it stopped running."""
    plan, metered = Plan(), set()
    for meter in open_meters:
        session = sessions.get(uuid.UUID(meter.subject_id))
        if session is None:
            plan.closes.append((meter_id(meter), now))
            continue
        left = left_running(session, meter.started_at)
        if session.status in RUNNING and not (left and running_since(session) > left):
            metered.add(session.id)
            continue
        end = left or max(session.status_changed, meter.started_at)
        plan.closes.append((meter_id(meter), min(end, now)))
    for session in sessions.values():
        if session.status not in RUNNING or session.id in metered:
            continue
        start = max(running_since(session), last_end.get(str(session.id), session.created_at))
        held = run_resources(session, devices.get(session.agent_id or "", {}))
        plan.opens.append(_new(MeterKind.RUN, session, held, prices, min(start, now)))
    return plan


def plan_disks(
    open_meters: Iterable[Meter],
    sessions: Mapping[uuid.UUID, ComputeSession],
    last_end: Mapping[str, datetime],
    prices: Prices,
    now: datetime,
) -> Plan:
    """Scratch-disk meters: from a session's first start until it ends."""
    plan, metered = Plan(), set()
    for meter in open_meters:
        session = sessions.get(uuid.UUID(meter.subject_id))
        if session is None or session.status in ENDED:
            end = now if session is None else session.terminated_at or session.status_changed
            plan.closes.append((meter_id(meter), min(max(end, meter.started_at), now)))
        else:
            metered.add(session.id)
    for session in sessions.values():
        size = disk_gib(session)
        if session.id in metered or session.status in ENDED or session.started_at is None:
            continue
        if size <= 0:
            continue
        start = max(session.started_at, last_end.get(str(session.id), session.started_at))
        held = Resources(storage_gib=size)
        plan.opens.append(_new(MeterKind.DISK, session, held, prices, min(start, now)))
    return plan


def meter_id(meter: Meter) -> int:
    assert meter.id is not None, "a stored meter has an id"
    return meter.id


def repriced(meter: Meter, prices: Prices, at: datetime) -> Meter:
    """The meter continuing ``meter`` from ``at`` at today's prices."""
    return replace(meter, rate=rate_of(meter.resources, prices), started_at=at, id=None)
