"""A session's resource figures as the core keeps them; faces render their own stat forms.

``sessions.last_stat`` holds :func:`stats_record` of the figures its kernel had when it was
destroyed: ``{}`` when the session ended without any, NULL while it has not ended.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hangar.agent.models import ContainerStats
from hangar.core.compute.states import SessionStatus

FIELDS = tuple(f.name for f in dataclasses.fields(ContainerStats))


@dataclass(frozen=True, slots=True)
class Ended:
    """What ending a session gave: CANCELLED or TERMINATED, and its kernel's last figures
    (None: it had no kernel, or they could not be read)."""

    status: SessionStatus
    stats: ContainerStats | None = None


def stats_record(stats: ContainerStats | None) -> dict[str, int]:
    return dataclasses.asdict(stats) if stats is not None else {}


def stats_of(record: Mapping[str, Any] | None) -> ContainerStats | None:
    """The figures a :func:`stats_record` holds (None for NULL or an empty record; a figure
    that is not a whole number reads as 0)."""
    if not record:
        return None
    return ContainerStats(**{name: _whole(record.get(name)) for name in FIELDS})


def _whole(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
