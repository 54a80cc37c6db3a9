"""Limits of the bubblewrap runtime: cgroups where writable (the default as root), rlimits
otherwise; a limit that is hit ends the process and says so; stats show the usage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hangar.agent.runtimes.base import (
    ExitStatus,
    KernelSpec,
    LimitMode,
    ResourceLimits,
    TerminationReason,
)
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime

PYTHON = "/usr/bin/python3"
MIB = 1 << 20
Shell = Callable[..., Awaitable[tuple[str, str, ExitStatus]]]
Kernels = Callable[..., Awaitable[Any]]

BOUNDED_FORKS = """
import os, sys
children = []
try:
    for _ in range(200):
        pid = os.fork()
        if pid == 0:
            os.pause()
        children.append(pid)
except BlockingIOError:
    pass
print(len(children))
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"""


PERSISTENT_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


pytestmark = pytest.mark.usefixtures("needs_python", "needs_cgroups")


async def test_fork_count_is_capped_by_pids_max(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell
) -> None:
    await kernels(runtime, "k1", limits=ResourceLimits(pids_max=16))
    out, err, status = await execute(runtime, "k1", [PYTHON, "-c", BOUNDED_FORKS])
    assert status.exit_code == 0, err
    assert 0 < int(out) < 16  # bwrap's init and python itself count too
    assert any("pids.max=16" in note for note in status.notes)


@pytest.mark.parametrize(
    "bomb",
    [
        ["/bin/bash", "-c", ":(){ :|:& };:; wait"],  # the classic; may fizzle out by itself
        [PYTHON, "-c", PERSISTENT_BOMB],  # never gives up: only the timeout ends it
    ],
    ids=["bash", "persistent"],
)
async def test_fork_bomb_is_contained_and_the_kernel_survives(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, execute: Shell, bomb: list[str]
) -> None:
    await kernels(runtime, "k1", limits=ResourceLimits(pids_max=32, memory_bytes=256 * MIB))
    _, _, status = await execute(runtime, "k1", bomb, timeout=1.5)
    if bomb[0] == PYTHON:  # the classic may die out before it reaches the limit
        assert status.reason is TerminationReason.TIMED_OUT
        assert any("process limit (pids.max=32)" in note for note in status.notes)
    cgroup = runtime.cgroups.cgroup_for("k1") if runtime.cgroups else None
    assert cgroup is not None
    await wait_until(lambda: not cgroup.pids())  # every copy of the bomb is gone
    out, _, status = await sh(runtime, "k1", "echo still here")
    assert (out, status.exit_code) == ("still here\n", 0)
    host = await asyncio.create_subprocess_exec("/bin/true")
    assert await host.wait() == 0  # the host can still fork


async def test_memory_hog_is_killed_and_reported(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell
) -> None:
    await kernels(runtime, "k1", limits=ResourceLimits(memory_bytes=64 * MIB))
    hog = "b = bytearray(256 << 20); print('survived')"
    out, _, status = await execute(runtime, "k1", [PYTHON, "-c", hog])
    assert "survived" not in out
    assert status.exit_code == 137
    assert status.reason is TerminationReason.MEMORY_LIMIT
    assert status.message.startswith("memory limit exceeded")
    out, _, status = await execute(runtime, "k1", [PYTHON, "-c", "print(len(bytearray(8 << 20)))"])
    assert (out.strip(), status.reason) == (str(8 << 20), TerminationReason.EXITED)


@pytest.mark.serial  # the CPU time a busy loop gets in 0.8 s of wall time
async def test_cpu_quota_is_enforced(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell
) -> None:
    await kernels(runtime, "k1", limits=ResourceLimits(cpu=0.25))
    spin = "import time\nend = time.monotonic() + 0.8\nwhile time.monotonic() < end: pass"
    _, _, status = await execute(runtime, "k1", [PYTHON, "-c", spin])
    assert status.exit_code == 0
    used = (await runtime.stats("k1")).cpu_used
    assert 100 <= used <= 450  # ~0.25 x 800 ms plus start-up; unthrottled it would be ~800


async def test_stats_report_cpu_memory_and_scratch(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell
) -> None:
    await kernels(runtime, "k1", limits=ResourceLimits(memory_bytes=512 * MIB))
    work = (
        "data = bytearray(48 << 20)\n"
        "for i in range(0, len(data), 4096): data[i] = 1\n"
        "sum(range(3_000_000))\n"
        "open('blob.bin', 'wb').write(b'x' * (1 << 20))\n"
    )
    _, err, status = await execute(runtime, "k1", [PYTHON, "-c", work])
    assert status.exit_code == 0, err
    stats = await runtime.stats("k1")
    assert stats.cpu_used > 0
    assert stats.mem_max_bytes >= 48 * MIB
    assert stats.io_cur_scratch_size == stats.io_max_scratch_size == 1 << 20
    _, _, _ = await execute(runtime, "k1", ["/bin/rm", "blob.bin"])
    after = await runtime.stats("k1")
    assert (after.io_cur_scratch_size, after.io_max_scratch_size) == (0, 1 << 20)


async def test_rlimits_when_cgroups_are_off(
    make_runtime: Callable[..., BubblewrapRuntime], kernels: Kernels, execute: Shell
) -> None:
    fallback = make_runtime(use_cgroups=False)
    info_spec = await kernels(fallback, "k1", limits=ResourceLimits(memory_bytes=128 * MIB))
    assert fallback.limit_mode is LimitMode.RLIMIT
    assert any("RLIMIT_AS" in note for note in fallback.notes)
    assert info_spec.kernel_id == "k1"
    _, err, status = await execute(fallback, "k1", [PYTHON, "-c", "b = bytearray(512 << 20)"])
    assert status.exit_code != 0 and "MemoryError" in err
    stats = await fallback.stats("k1")
    assert stats.cpu_used >= 0 and stats.mem_cur_bytes == 0


HOLD = (
    "import sys, time\n"
    "data = bytearray(64 << 20)\n"
    "for i in range(0, len(data), 4096): data[i] = 1\n"
    "end = time.process_time() + 0.3\n"
    "while time.process_time() < end: pass\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


async def test_an_adopted_kernel_takes_its_processes_and_their_memory_along(
    runtime: BubblewrapRuntime, kernels: Kernels, data_dir: Path
) -> None:
    """A pre-started kernel adopted as a session's: its running processes, and the memory
    they hold, count in the session's limits; its CPU time so far is not the session's."""
    if runtime.cgroups is None:
        pytest.skip("needs cgroups")
    await kernels(runtime, "pool-a", limits=ResourceLimits(memory_bytes=512 * MIB))
    handle = await runtime.run("pool-a", [PYTHON, "-c", HOLD], stdin="pipe")
    assert await handle.stdout.readline() == b"ready\n"
    spec = KernelSpec("k1", data_dir / "scratch" / "k1",
                      limits=ResourceLimits(memory_bytes=256 * MIB))  # fmt: skip
    try:
        await runtime.adopt("pool-a", spec)
        assert not runtime.cgroups.cgroup_for("pool-a").exists()
        assert runtime.cgroups.cgroup_for("k1").pids()  # the sandbox's processes moved in
        stats = await runtime.stats("k1")
        assert stats.mem_cur_bytes >= 60 * MIB  # the process's memory came along
        assert stats.cpu_used < 250  # its 300 ms of CPU before the adoption did not
    finally:
        handle.kill()
        await handle.wait()
        await runtime.destroy("k1", remove_scratch=True)
