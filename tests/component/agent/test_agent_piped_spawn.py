"""Children started for the runtimes, on the server's event loop (uvloop) and asyncio's:
output streamed, stdin fed, exit codes and signals reported, every child reaped."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from hangar.agent.runtimes.process import spawn

ENV = {"PATH": "/usr/bin:/bin"}
Runner = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=["uvloop", "asyncio"])
def run_on(request: pytest.FixtureRequest) -> Runner:
    return uvloop.run if request.param == "uvloop" else asyncio.run  # type: ignore[return-value]


def test_output_exit_code_and_stdin(run_on: Runner) -> None:
    pids: list[int] = []

    async def main() -> None:
        spawned = await spawn(["/bin/sh", "-c", "read x; echo out $x; echo err >&2; exit 3"],
                              env=ENV, cwd="/", stdin_pipe=True)  # fmt: skip
        process = spawned.process
        assert process.stdin is not None and process.stdout and process.stderr
        process.stdin.write(b"hello\n")
        await process.stdin.drain()
        process.stdin.close()
        assert await process.stdout.read() == b"out hello\n"
        assert await process.stderr.read() == b"err\n"
        await spawned.exited
        await spawned.drained
        assert process.returncode == 3
        pids.append(process.pid)

    run_on(main())
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(pids[0], os.WNOHANG)


def test_a_killed_child_and_a_grandchild_holding_the_pipes(run_on: Runner) -> None:
    async def main() -> None:
        spawned = await spawn(["/bin/sh", "-c", "sleep 30 & echo started; exec sleep 60"],
                              env=ENV, cwd="/", stdin_pipe=False)  # fmt: skip
        process = spawned.process
        assert process.stdin is None and process.stdout is not None
        assert await process.stdout.readline() == b"started\n"
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.wait_for(spawned.exited, 10)  # the orphan keeps the pipes open
        assert process.returncode == -signal.SIGKILL
        assert not spawned.drained.done()
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the orphan goes too
        await asyncio.wait_for(spawned.drained, 10)

    run_on(main())


def test_a_missing_program_raises(run_on: Runner) -> None:
    async def main() -> None:
        with pytest.raises(OSError):
            await spawn(["/nonexistent/program"], env=ENV, cwd="/", stdin_pipe=False)

    run_on(main())


def test_a_start_cancelled_half_way_leaves_no_descriptor_behind(run_on: Runner) -> None:
    """A start cancelled at any step (a kernel destroyed while its next sandbox was being
    built) closes each pipe once: later children start, and no descriptor is left open."""

    async def main() -> None:
        warm = await spawn(["/bin/true"], env=ENV, cwd="/", stdin_pipe=True)  # the loop's own
        await warm.exited
        await warm.drained
        before = len(os.listdir("/proc/self/fd"))
        for steps in range(8):
            for _ in range(3):
                start = asyncio.ensure_future(
                    spawn(["/bin/sleep", "5"], env=ENV, cwd="/", stdin_pipe=True)
                )
                for _ in range(steps):
                    await asyncio.sleep(0)
                start.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await start
                gc.collect()
        for _ in range(20):
            spawned = await spawn(["/bin/echo", "x"], env=ENV, cwd="/", stdin_pipe=False)
            assert spawned.process.stdout is not None
            assert await spawned.process.stdout.read() == b"x\n"
            await spawned.exited
            await spawned.drained
        for _ in range(100):  # the killed sleeps' watchers go once they are reaped
            if len(os.listdir("/proc/self/fd")) <= before:
                break
            await asyncio.sleep(0.02)
        assert len(os.listdir("/proc/self/fd")) <= before

    run_on(main())
