"""Which scaling group (region) a new pod goes to: the first acceptable one where enough
devices of the wanted model are free now, else the first that has enough of them at all
(the pod waits there for the scheduler). Devices are taken by the scheduler, as for any
session: this only picks the group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from hangar.core.errors import InvalidValue
from hangar.core.pods.models import DeviceChoice
from hangar.core.resources.accelerators import AcceleratorGroup

DEFAULT_GROUP = "default"


def choose_group(
    groups: Sequence[AcceleratorGroup],
    wanted: tuple[str, ...],
    device: DeviceChoice | None,
    count: int,
    what: str,
) -> str:
    """The scaling group for a pod wanting ``count`` devices like ``device`` (None: no
    accelerator) among ``wanted`` (empty: any). ``what`` names the device in errors.
    Raises InvalidValue (``gpu_type``: none offered; ``gpu_count``: not that many)."""
    if device is None or count <= 0:
        return wanted[0] if wanted else DEFAULT_GROUP
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for group in groups:
        if (group.model, group.memory_bytes) != (device.model, device.memory_bytes):
            continue
        if wanted and group.scaling_group not in wanted:
            continue
        totals[group.scaling_group][0] += group.total
        totals[group.scaling_group][1] += group.free
    if not totals:
        raise InvalidValue("gpu_type", f"{what} is not offered in the requested regions")
    order = [g for g in wanted if g in totals] if wanted else sorted(totals)
    for name in order:
        if totals[name][1] >= count:
            return name
    for name in order:
        if totals[name][0] >= count:
            return name
    most = max(total for total, _ in totals.values())
    raise InvalidValue("gpu_count", f"at most {most} x {what} in one pod here, not {count}")
