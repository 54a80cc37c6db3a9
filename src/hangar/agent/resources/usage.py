"""What the node's host uses now: CPU per core and memory, from ``/proc``.

This is the node figure Backend.AI's agents report (the machine's load, sessions and
everything else on it); the sessions' own figures come from their cgroups
(``KernelRuntime.stats``). CPU use is a rate, so it needs two readings: each call compares
with the reading of the call before when that is recent, else takes two readings a short
moment apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hangar.agent.models import NodeUsage

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class CpuTimes:
    busy: tuple[int, ...]  # clock ticks per core spent not idle
    total: tuple[int, ...]


def parse_stat(text: str) -> CpuTimes:
    """Per-core times of ``/proc/stat`` (the ``cpuN`` lines; idle and iowait count as idle)."""
    busy: list[int] = []
    total: list[int] = []
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        ticks = [int(v) for v in rest.split()[:8]]  # guest times are already in user/nice
        idle = sum(ticks[3:5])
        total.append(sum(ticks))
        busy.append(sum(ticks) - idle)
    return CpuTimes(tuple(busy), tuple(total))


def parse_meminfo(text: str) -> tuple[int, int]:
    """(used, total) bytes of ``/proc/meminfo``: used is what is not available."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0]) * 1024
    total = fields.get("MemTotal", 0)
    available = fields.get("MemAvailable", fields.get("MemFree", 0))
    return max(0, total - available), total


def utilization(before: CpuTimes, after: CpuTimes) -> tuple[float, ...]:
    """Percent busy of each core between two readings (0 where no time passed)."""
    if len(before.total) != len(after.total):  # a core came or went: no comparison
        return tuple(0.0 for _ in after.total)
    shares = []
    for b0, t0, b1, t1 in zip(before.busy, before.total, after.busy, after.total, strict=True):
        elapsed = t1 - t0
        shares.append(min(100.0, max(0.0, (b1 - b0) * 100 / elapsed)) if elapsed > 0 else 0.0)
    return tuple(shares)


class HostUsage:
    """Samples the host. ``sample()`` is safe to call concurrently; calls closer together
    than ``min_interval`` share one reading, and a reading older than ``max_age`` is too
    stale to compare with (a fresh pair ``min_interval`` apart is taken instead)."""

    def __init__(
        self,
        proc: Path = PROC,
        *,
        min_interval: float = 0.25,
        max_age: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._proc = proc
        self._min_interval = min_interval
        self._max_age = max_age
        self._clock = clock
        self._lock = asyncio.Lock()
        self._last: tuple[float, CpuTimes] | None = None
        self._result: NodeUsage | None = None

    def _read_cpu(self) -> CpuTimes:
        return parse_stat((self._proc / "stat").read_text())

    async def sample(self) -> NodeUsage:
        """The host's use now. Raises OSError where ``/proc`` cannot be read."""
        async with self._lock:
            now = self._clock()
            last = self._last
            fresh = last is not None and now - last[0] < self._min_interval
            if fresh and self._result is not None:
                return self._result
            if last is None or now - last[0] > self._max_age:
                last = (now, self._read_cpu())
                await asyncio.sleep(self._min_interval)
            after = (self._clock(), self._read_cpu())
            used, total = parse_meminfo((self._proc / "meminfo").read_text())
            self._last = after
            self._result = NodeUsage(utilization(last[1], after[1]), used, total)
            return self._result
