"""The contract every runtime keeps, run against the fake and the bubblewrap runtime alike,
so that tests elsewhere can trust the fake."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hangar.agent.errors import KernelCreationFailed, KernelNotFound
from hangar.agent.runtimes.base import (
    BindMount,
    ExitStatus,
    ImageSpec,
    KernelRuntime,
    KernelSpec,
    TerminationReason,
)
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from hangar.agent.runtimes.fake import FakeRuntime

Shell = Callable[..., Awaitable[tuple[str, str, ExitStatus]]]
Kernels = Callable[..., Awaitable[KernelSpec]]


@pytest.fixture(params=["fake", "bubblewrap"])
def any_runtime(request: pytest.FixtureRequest) -> KernelRuntime:
    if request.param == "fake":
        return FakeRuntime()
    runtime: BubblewrapRuntime = request.getfixturevalue("runtime")
    return runtime


async def test_stdin_stdout_and_exit_code(
    any_runtime: KernelRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(any_runtime, "k1")
    out, err, status = await sh(any_runtime, "k1", "cat; echo oops >&2; exit 3", stdin=b"hello\n")
    assert (out, err) == ("hello\n", "oops\n")
    assert (status.exit_code, status.reason) == (3, TerminationReason.EXITED)


async def test_interactive_stdin(any_runtime: KernelRuntime, kernels: Kernels) -> None:
    await kernels(any_runtime, "k1")
    handle = await any_runtime.run(
        "k1", ["/bin/sh", "-c", "read line; echo got $line"], stdin="pipe"
    )
    assert handle.stdin is not None
    handle.stdin.write(b"ping\n")
    await handle.stdin.drain()
    handle.stdin.close()
    out, _, status = await handle.communicate()
    assert (out, status.exit_code) == (b"got ping\n", 0)


async def test_relative_paths_and_cwd_live_in_the_scratch_dir(
    any_runtime: KernelRuntime, kernels: Kernels, sh: Shell
) -> None:
    spec = await kernels(any_runtime, "k1")
    await sh(any_runtime, "k1", "mkdir src")
    _, _, status = await sh(any_runtime, "k1", "echo 1 > here.txt", cwd="/home/work/src")
    assert status.exit_code == 0
    assert (spec.scratch_dir / "src" / "here.txt").read_text() == "1\n"


async def test_timeout_kills_the_process(
    any_runtime: KernelRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(any_runtime, "k1")
    _, _, status = await sh(any_runtime, "k1", "echo started; exec sleep 600", timeout=0.3)
    assert status.reason is TerminationReason.TIMED_OUT
    assert status.exit_code == 137 and "0.3 s" in status.message


async def test_kill_on_request(any_runtime: KernelRuntime, kernels: Kernels) -> None:
    await kernels(any_runtime, "k1")
    handle = await any_runtime.run("k1", ["/bin/sh", "-c", "echo ready; sleep 600"])
    assert await handle.stdout.readline() == b"ready\n"
    handle.kill()
    handle.kill()  # idempotent
    assert (await handle.wait()).reason is TerminationReason.KILLED
    assert (await handle.wait()).reason is TerminationReason.KILLED


async def test_background_children_end_with_the_process(
    any_runtime: KernelRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(any_runtime, "k1")
    # The orphan holds stdout open: reading to EOF ends only if the runtime kills it.
    out, _, status = await asyncio.wait_for(
        sh(any_runtime, "k1", "sleep 600 & echo parent done"), 10
    )
    assert (out, status.exit_code) == ("parent done\n", 0)


async def test_destroy_kills_running_processes_and_is_idempotent(
    any_runtime: KernelRuntime, kernels: Kernels
) -> None:
    spec = await kernels(any_runtime, "k1")
    handle = await any_runtime.run("k1", ["/bin/sh", "-c", "sleep 600"])
    await any_runtime.destroy("k1", remove_scratch=True)
    assert (await handle.wait()).reason is TerminationReason.KILLED
    assert not spec.scratch_dir.exists()
    await any_runtime.destroy("k1", remove_scratch=True)
    await any_runtime.destroy("never-created", remove_scratch=False)
    with pytest.raises(KernelNotFound):
        await any_runtime.run("k1", ["/bin/true"])


async def test_destroy_keeping_scratch_allows_a_restart(
    any_runtime: KernelRuntime, kernels: Kernels, sh: Shell
) -> None:
    spec = await kernels(any_runtime, "k1")
    await sh(any_runtime, "k1", "mkdir -p keep && echo persisted > keep/state && chmod 000 keep")
    await any_runtime.destroy("k1", remove_scratch=False)
    assert spec.scratch_dir.exists()
    await any_runtime.create(spec)
    out, _, _ = await sh(any_runtime, "k1", "chmod 700 keep && cat keep/state && chmod 000 keep")
    assert out == "persisted\n"
    # leave it unreadable: removal must still work (teardown removes the scratch dir)


async def test_unknown_and_duplicate_kernels(any_runtime: KernelRuntime, kernels: Kernels) -> None:
    spec = await kernels(any_runtime, "k1")
    with pytest.raises(KernelCreationFailed):
        await any_runtime.create(spec)
    for call in (
        any_runtime.run("nope", ["/bin/true"]),
        any_runtime.stats("nope"),
    ):
        with pytest.raises(KernelNotFound):
            await call
    with pytest.raises(KernelNotFound):
        any_runtime.command("nope", ["/bin/true"])


async def test_bootstrap_script_runs_at_create(
    any_runtime: KernelRuntime, kernels: Kernels
) -> None:
    spec = await kernels(any_runtime, "k1", image=ImageSpec(bootstrap="echo ready > .bootstrapped"))
    assert (spec.scratch_dir / ".bootstrapped").read_text() == "ready\n"


async def test_failing_bootstrap_leaves_no_kernel(
    any_runtime: KernelRuntime, data_dir: Path
) -> None:
    spec = KernelSpec(
        "k1", data_dir / "scratch" / "k1", image=ImageSpec(bootstrap="echo no >&2; exit 4")
    )
    with pytest.raises(KernelCreationFailed, match="exited with code 4"):
        await any_runtime.create(spec)
    with pytest.raises(KernelNotFound):
        await any_runtime.stats("k1")


async def test_stats_track_the_scratch_size(
    any_runtime: KernelRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(any_runtime, "k1")
    await sh(any_runtime, "k1", "head -c 4096 /dev/zero > a.bin")
    stats = await any_runtime.stats("k1")
    assert (stats.io_cur_scratch_size, stats.io_max_scratch_size) == (4096, 4096)
    assert stats.net_rx_bytes == stats.net_tx_bytes == 0


async def test_command_for_foreign_launchers(any_runtime: KernelRuntime, kernels: Kernels) -> None:
    spec = await kernels(any_runtime, "k1")
    command = any_runtime.command("k1", ["/bin/sh", "-c", "echo $USER > launched.txt"])
    process = await asyncio.create_subprocess_exec(
        *command.argv, env=dict(command.env), cwd=spec.scratch_dir
    )
    assert await process.wait() == 0
    assert (spec.scratch_dir / "launched.txt").read_text() == "work\n"


def test_limit_modes(any_runtime: KernelRuntime) -> None:
    assert any_runtime.name in ("fake", "bubblewrap")


async def run_noop(runtime: KernelRuntime, kernel_id: str, **kwargs: Any) -> ExitStatus:
    return await (await runtime.run(kernel_id, ["/bin/true"], **kwargs)).wait()


async def test_vfolders_appear_under_home(
    any_runtime: KernelRuntime, kernels: Kernels, sh: Shell, data_dir: Path
) -> None:
    folder = data_dir / "vfolders" / "v1"
    folder.mkdir(parents=True)
    os.chown(folder, 1000, 1000)
    (folder / "data.csv").write_text("a,b\n")
    await kernels(any_runtime, "k1", mounts=(BindMount(folder, "datasets/v1", read_only=False),))
    out, _, status = await sh(
        any_runtime, "k1", "cat datasets/v1/data.csv; echo 1 > datasets/v1/new"
    )
    assert (out, status.exit_code) == ("a,b\n", 0)
    assert (folder / "new").read_text() == "1\n"
