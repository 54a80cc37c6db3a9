"""The host's CPU and memory use as the agent reads it from /proc."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hangar.agent.resources.usage import (
    CpuTimes,
    HostUsage,
    parse_meminfo,
    parse_stat,
    utilization,
)

STAT = """cpu  300 0 100 600 0 0 0 0 0 0
cpu0 100 0 50 350 0 0 0 0 0 0
cpu1 200 0 50 250 0 0 0 0 0 0
intr 1 2 3
ctxt 10
"""

MEMINFO = """MemTotal:       1000 kB
MemFree:         100 kB
MemAvailable:    400 kB
Buffers:          10 kB
"""


def test_per_core_times_leave_out_the_total_line() -> None:
    times = parse_stat(STAT)
    assert times == CpuTimes(busy=(150, 250), total=(500, 500))


def test_memory_used_is_what_is_not_available() -> None:
    assert parse_meminfo(MEMINFO) == (600 * 1024, 1000 * 1024)
    assert parse_meminfo("MemTotal: 1000 kB\nMemFree: 900 kB\n") == (100 * 1024, 1000 * 1024)


def test_utilization_is_busy_share_of_elapsed_ticks() -> None:
    before = CpuTimes(busy=(0, 0, 5), total=(0, 0, 10))
    after = CpuTimes(busy=(100, 25, 5), total=(100, 100, 10))
    assert utilization(before, after) == (100.0, 25.0, 0.0)
    assert utilization(CpuTimes((0,), (0,)), after) == (0.0, 0.0, 0.0)  # a core came


def write_proc(proc: Path, core0: tuple[int, int], core1: tuple[int, int]) -> None:
    """Busy and idle ticks of two cores."""
    lines = [f"cpu{i} {busy} 0 0 {idle} 0 0 0 0" for i, (busy, idle) in enumerate((core0, core1))]
    (proc / "stat").write_text("\n".join(lines) + "\n")
    (proc / "meminfo").write_text(MEMINFO)


async def test_samples_compare_with_the_reading_before(tmp_path: Path) -> None:
    now = [100.0]
    usage = HostUsage(tmp_path, min_interval=0.01, max_age=10, clock=lambda: now[0])
    write_proc(tmp_path, (0, 0), (0, 0))
    first = await usage.sample()  # no reading yet: two readings a moment apart
    assert first.cpu_util == (0.0, 0.0)
    assert (first.mem_used, first.mem_total) == (600 * 1024, 1000 * 1024)
    write_proc(tmp_path, (100, 0), (50, 50))
    now[0] += 5
    assert (await usage.sample()).cpu_util == (100.0, 50.0)
    write_proc(tmp_path, (100, 100), (50, 150))
    assert (await usage.sample()).cpu_util == (100.0, 50.0)  # too soon: the same reading
    now[0] += 60  # too old to compare with: a fresh pair
    assert (await usage.sample()).cpu_util == (0.0, 0.0)


async def test_concurrent_samples_share_one_reading(tmp_path: Path) -> None:
    write_proc(tmp_path, (0, 0), (0, 0))
    usage = HostUsage(tmp_path, min_interval=0.05)
    results = await asyncio.gather(*(usage.sample() for _ in range(5)))
    assert all(r is results[0] for r in results)


async def test_no_proc_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        await HostUsage(tmp_path / "missing", min_interval=0).sample()
