"""What a session reads in /proc names no host path: the sandbox's PID 1 is a fork of
bwrap, whose argv once held the data dir, the scratch dir and the agent's state files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hangar.agent.runtimes.base import ExitStatus
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime

Shell = Callable[..., Awaitable[tuple[str, str, ExitStatus]]]
Kernels = Callable[..., Awaitable[Any]]

# Every process's argv and environment the session can read, then its own open files.
READ_PROC = (
    "for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do "
    "echo \"== $f\"; tr '\\0' ' ' <$f 2>/dev/null; echo; done; ls -l /proc/self/fd/"
)


def assert_no_host_path(out: str, data_dir: Path) -> None:
    assert "== /proc/1/cmdline\n/usr/bin/bwrap " in out, out  # PID 1 was read
    assert str(data_dir) not in out, out
    assert "/var/tmp" not in out, out  # no part of the data dir's path either


async def test_proc_cmdlines_name_no_host_path(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, data_dir: Path
) -> None:
    await kernels(runtime, "k1")
    out, err, status = await sh(runtime, "k1", READ_PROC, cwd="/tmp")
    assert status.exit_code == 0, err
    assert_no_host_path(out, data_dir)
    assert "/var/tmp" not in out and "cgroup.procs" not in out


async def test_kept_process_shows_no_host_path(
    runtime: BubblewrapRuntime, kernels: Kernels, data_dir: Path
) -> None:
    await kernels(runtime, "k1")
    # Its stdout and stderr are files of the agent's: /proc/self/fd names them (not checked).
    script = READ_PROC.split("; ls")[0]
    handle = await runtime.run("k1", ["/bin/sh", "-c", script], keep="reader")
    out, err, status = await handle.communicate()
    assert status.exit_code == 0, err
    assert_no_host_path(out.decode(), data_dir)


@pytest.mark.parametrize("cwd", ["/home/work", "/tmp"])
async def test_options_file_is_the_kernels_and_goes_with_it(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, data_dir: Path, cwd: str
) -> None:
    await kernels(runtime, "k1")
    out, _, status = await sh(runtime, "k1", "pwd; echo hi > f; ls /home/work", cwd=cwd)
    assert (status.exit_code, out.split()) == (0, [cwd, "f"] if cwd == "/home/work" else [cwd])
    options = runtime.config.state_dir / "args" / "k1"
    assert str(data_dir / "scratch" / "k1").encode() in options.read_bytes()
    await runtime.destroy("k1", remove_scratch=True)
    assert not options.exists()
