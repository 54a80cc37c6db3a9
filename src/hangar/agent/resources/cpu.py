"""How many CPU cores this agent may hand out."""

from __future__ import annotations

import os

from hangar.agent.cgroupfs import CgroupLayout, CgroupVersion, read_int, read_text


def cgroup_cpu_quota(layout: CgroupLayout | None) -> float | None:
    """Return the CFS quota of the agent's own cgroup in cores, or None if unlimited."""
    if layout is None or "cpu" not in layout.dirs:
        return None
    directory = layout.dirs["cpu"]
    if layout.version is CgroupVersion.V1:
        quota = read_int(directory / "cpu.cfs_quota_us")
        period = read_int(directory / "cpu.cfs_period_us")
    else:
        fields = read_text(directory / "cpu.max").split()
        quota = int(fields[0]) if len(fields) == 2 and fields[0].isdigit() else None
        period = int(fields[1]) if len(fields) == 2 and fields[1].isdigit() else None
    if quota is None or period is None or quota <= 0 or period <= 0:
        return None
    return quota / period


def count_cpus(layout: CgroupLayout | None = None) -> int:
    """Return the usable core count: the affinity mask (which reflects cpusets), further
    capped by a cgroup CPU quota rounded down (at least 1)."""
    count = len(os.sched_getaffinity(0))
    quota = cgroup_cpu_quota(layout)
    if quota is not None:
        count = min(count, max(1, int(quota)))
    return count
