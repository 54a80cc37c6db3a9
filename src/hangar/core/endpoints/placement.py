"""Which of an endpoint's acceptable placements a new worker takes: the first whose
scaling group has enough free devices of its model now, else the first that has enough of
them at all (the worker waits there for the scheduler). Devices are taken by the scheduler,
as for any session."""

from __future__ import annotations

from collections.abc import Sequence

from hangar.core.endpoints.models import Placement
from hangar.core.errors import InvalidValue
from hangar.core.resources.accelerators import AcceleratorGroup


def _devices(groups: Sequence[AcceleratorGroup], p: Placement) -> tuple[int, int]:
    """(total, free) devices ``p`` could use."""
    if p.device is None:
        return (1 << 30, 1 << 30)
    want = (p.device.model, p.device.memory_bytes, p.scaling_group)
    found = [g for g in groups if (g.model, g.memory_bytes, g.scaling_group) == want]
    return sum(g.total for g in found), sum(g.free for g in found)


def check_placements(groups: Sequence[AcceleratorGroup], placements: Sequence[Placement]) -> None:
    """Raises InvalidValue (``resources``) unless some placement can ever be met."""
    if not placements:
        raise InvalidValue("resources", "at least one resource is required")
    for p in placements:
        if _devices(groups, p)[0] >= max(p.gpu_count, 1):
            return
    names = ", ".join(f"{p.gpu_count} x {p.gpu_type} in {p.scaling_group}" for p in placements)
    raise InvalidValue("resources", f"none of these is offered here: {names}")


def choose_placement(
    groups: Sequence[AcceleratorGroup], placements: Sequence[Placement]
) -> Placement:
    """The placement a new worker takes (the first one when none can ever be met)."""
    possible = [p for p in placements if _devices(groups, p)[0] >= max(p.gpu_count, 1)]
    for p in possible:
        if _devices(groups, p)[1] >= max(p.gpu_count, 1):
            return p
    return (possible or list(placements))[0]
