"""How much main memory this agent may hand out."""

from __future__ import annotations

from pathlib import Path

from hangar.agent.cgroupfs import (
    V1_UNLIMITED,
    CgroupLayout,
    CgroupVersion,
    read_int,
    read_keyed,
    read_text,
)


def physical_memory_bytes(proc_root: Path = Path("/proc")) -> int:
    """Return ``MemTotal`` from ``meminfo`` in bytes.

    Raises RuntimeError where the file lacks the line (not a Linux /proc).
    """
    for line in read_text(proc_root / "meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no MemTotal in {proc_root / 'meminfo'}")


def cgroup_memory_limit(layout: CgroupLayout | None) -> int | None:
    """Return the tightest memory limit over the agent's cgroup and its ancestors, or None."""
    if layout is None or "memory" not in layout.dirs:
        return None
    directory = layout.dirs["memory"]
    if layout.version is CgroupVersion.V1:
        stat = read_keyed(directory / "memory.stat")
        limit = stat.get("hierarchical_memory_limit") or read_int(
            directory / "memory.limit_in_bytes"
        )
        return limit if limit is not None and limit < V1_UNLIMITED else None
    limits: list[int] = []
    top = layout.mountpoints["memory"]
    while directory != top and top in directory.parents:
        value = read_int(directory / "memory.max")
        if value is not None:
            limits.append(value)
        directory = directory.parent
    return min(limits) if limits else None


def total_memory_bytes(layout: CgroupLayout | None = None, proc_root: Path = Path("/proc")) -> int:
    """Return physical memory, capped by the agent's cgroup memory limit when there is one."""
    total = physical_memory_bytes(proc_root)
    limit = cgroup_memory_limit(layout)
    return min(total, limit) if limit is not None else total
