"""Usage reports: meters summed per user and per project over a period (pure)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hangar.core.billing.meters import HOUR, accrued, money
from hangar.core.billing.models import ZERO, Meter, Usage, UsageLine


@dataclass
class _Sum:
    cost: Decimal = ZERO
    gpu_hours: Decimal = ZERO
    cpu_core_hours: Decimal = ZERO
    storage_gib_hours: Decimal = ZERO
    items: set[str] | None = None


def _hours(meter: Meter, start: datetime, end: datetime) -> Decimal:
    begin = max(meter.started_at, start)
    stop = end if meter.ended_at is None else min(meter.ended_at, end)
    return Decimal(str(max((stop - begin).total_seconds(), 0.0))) / HOUR


def _add(total: _Sum, meter: Meter, start: datetime, end: datetime) -> None:
    hours = _hours(meter, start, end)
    held = meter.resources
    total.cost += accrued(meter, start, end)
    total.gpu_hours += sum(held.gpus.values(), ZERO) * hours
    total.cpu_core_hours += held.cpu_cores * hours
    total.storage_gib_hours += held.storage_gib * hours
    total.items = (total.items or set()) | {f"{meter.kind.value}:{meter.subject_id}"}


def _lines(
    found: Iterable[Meter],
    key: Callable[[Meter], uuid.UUID],
    labels: Mapping[uuid.UUID, str],
    start: datetime,
    end: datetime,
) -> tuple[UsageLine, ...]:
    sums: dict[uuid.UUID, _Sum] = {}
    for meter in found:
        if _hours(meter, start, end) > 0:
            _add(sums.setdefault(key(meter), _Sum()), meter, start, end)
    lines = [
        UsageLine(
            subject=subject,
            label=labels.get(subject, str(subject)),
            cost=money(s.cost),
            gpu_hours=money(s.gpu_hours),
            cpu_core_hours=money(s.cpu_core_hours),
            storage_gib_hours=money(s.storage_gib_hours),
            items=len({i.split(":", 1)[1] for i in s.items or ()}),
        )  # fmt: skip
        for subject, s in sums.items()
    ]
    return tuple(sorted(lines, key=lambda line: (-line.cost, line.label)))


def aggregate(
    found: list[Meter],
    start: datetime,
    end: datetime,
    emails: Mapping[uuid.UUID, str],
    names: Mapping[uuid.UUID, str],
    currency: str = "USD",
) -> Usage:
    """The meters' cost during [start, end) per user and per project."""
    return Usage(
        start=start,
        end=end,
        by_user=_lines(found, lambda m: m.user_uuid, emails, start, end),
        by_project=_lines(found, lambda m: m.group_id, names, start, end),
        currency=currency,
    )
