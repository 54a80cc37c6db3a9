"""Kernels outlive their node on the real bubblewrap runtime: a node that shuts down (or
dies) leaves Jupyter kernels and batch sessions' commands running, and a new node on the
same directories takes them over: globals kept, the run followed to its real exit code,
``id_container`` unchanged. What died meanwhile is reported lost; pool leftovers swept."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hangar.agent.models import BatchSteps, RunOutput
from hangar.agent.node import Node
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from hangar.agent.runtimes.detached import KeptFiles, alive_pid
from tests.support.agent_node import collect, make_node, request, text

PYTHON = "/usr/bin/python3"
pytestmark = [
    pytest.mark.usefixtures("needs_python"),
    pytest.mark.skipif(
        not Path("/usr/lib/python3/dist-packages/ipykernel").is_dir()
        and importlib.util.find_spec("ipykernel") is None,
        reason="python3-ipykernel is not installed (apt-get install python3-ipykernel)",
    ),
]


@pytest.fixture
async def nodes(
    make_runtime: Callable[..., BubblewrapRuntime], data_dir: Path
) -> AsyncIterator[Callable[..., Node]]:
    """``nodes()`` makes a node (a fresh runtime) on the same directories, as a restarted
    agent would; every kernel left at the end is destroyed."""
    made: list[Node] = []

    def make(**limits: object) -> Node:
        made.append(make_node(make_runtime(), data_dir, **limits))
        return made[-1]

    yield make
    last = made[-1]
    for kernel_id in last.kernel_ids():
        await last.destroy_kernel(kernel_id)


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until ``check()`` holds (polled: what it watches has no event to wait on)."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def cell(node: Node, kernel: uuid.UUID, code: str) -> str:
    async with contextlib.aclosing(node.run_query(kernel, code, 30)) as records:
        return text([r async for r in records], "stdout")


async def test_a_jupyter_kernel_keeps_its_globals_across_nodes(
    nodes: Callable[..., Node], data_dir: Path
) -> None:
    first = nodes()
    creation = request(interpreter=PYTHON, memory_bytes=512 << 20)
    await first.create_kernel(creation)
    assert await cell(first, creation.kernel_id, "x = 41\nprint(x)") == "41\n"
    key = (data_dir / "scratch" / str(creation.kernel_id) / "id_container").read_bytes()
    await first.shutdown()

    second = nodes()
    assert await second.recover() == [creation.kernel_id]
    assert await cell(second, creation.kernel_id, "print(x + 1)") == "42\n"
    assert (data_dir / "scratch" / str(creation.kernel_id) / "id_container").read_bytes() == key


async def test_a_batch_command_runs_on_and_is_followed_to_its_exit_code(
    nodes: Callable[..., Node], data_dir: Path
) -> None:
    first = nodes()
    creation = request(interactive=False)
    await first.create_kernel(creation)
    steps = BatchSteps(exec="for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.3; done; exit 3")
    seen: list[RunOutput] = []

    async def watch() -> None:
        async with contextlib.aclosing(first.run_batch(creation.kernel_id, steps)) as records:
            async for record in records:
                seen.append(record)

    task = asyncio.create_task(watch())
    await until(lambda: "tick 1" in text(seen, "stdout"))
    task.cancel()  # the server going away cancels its follower
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await first.shutdown()

    second = nodes()
    assert await second.recover() == [creation.kernel_id]
    records = await collect(second, creation.kernel_id, steps)
    assert "tick 6" in text(records, "stdout")
    assert "tick 1" not in text(records, "stdout")  # not run again: followed
    assert records[-1].kind == "finished" and records[-1].exit_code == 3
    log = await second.logs(creation.kernel_id)
    assert "tick 1" in log and "tick 6" in log


async def test_a_kernel_killed_while_no_node_ran_is_lost_with_the_reason(
    nodes: Callable[..., Node], data_dir: Path
) -> None:
    first = nodes()
    creation = request(interpreter=PYTHON, memory_bytes=512 << 20)
    await first.create_kernel(creation)
    assert await cell(first, creation.kernel_id, "x = 1") == ""
    await first.shutdown()
    files = KeptFiles(data_dir / "agent" / "kept" / str(creation.kernel_id) / "query")
    pid = alive_pid(files)
    assert pid is not None
    for child in children(pid):
        os.kill(child, signal.SIGKILL)
    await until(lambda: alive_pid(files) is None)

    second = nodes()
    assert await second.recover() == []
    assert "lost while the agent was down" in await second.logs(creation.kernel_id)
    assert not (data_dir / "scratch" / str(creation.kernel_id)).exists()


async def test_pool_leftovers_are_swept(nodes: Callable[..., Node], data_dir: Path) -> None:
    first = nodes(query_pool_size=1)
    first.warm_pool([PYTHON])
    scratch = data_dir / "scratch"
    await until(lambda: first.pool is not None and bool(first.pool._ready))
    # The node dies without shutting down (kill -9): its pool kernel is left behind.
    (leftover,) = [p.name for p in scratch.glob("pool-*")]
    for ready in first.pool._ready.values():
        for pooled in ready:
            await pooled.kernel.close(kill=False)  # only this test's client goes

    second = nodes()
    await second.recover()
    assert not list(scratch.glob("pool-*"))
    assert not (data_dir / "agent" / "kept" / leftover).exists()
    runtime = second.runtime
    assert isinstance(runtime, BubblewrapRuntime)
    if runtime.cgroups is not None:
        assert not runtime.cgroups.cgroup_for(leftover).exists()


async def test_a_session_made_from_a_pre_started_kernel_survives_too(
    nodes: Callable[..., Node], data_dir: Path
) -> None:
    first = nodes(query_pool_size=1)
    first.warm_pool([PYTHON])
    await until(lambda: first.pool is not None and bool(first.pool._ready))
    creation = request(interpreter=PYTHON, memory_bytes=512 << 20)
    await first.create_kernel(creation)
    assert first.pool is not None and not first.pool._ready.get(PYTHON)  # it was taken
    assert await cell(first, creation.kernel_id, "y = 'pooled'\nprint(y)") == "pooled\n"
    await first.shutdown()

    second = nodes()
    assert await second.recover() == [creation.kernel_id]
    assert await cell(second, creation.kernel_id, "print(y)") == "pooled\n"


async def test_a_batch_command_that_ended_while_no_node_ran_ends_with_its_code(
    nodes: Callable[..., Node],
) -> None:
    first = nodes()
    creation = request(interactive=False)
    await first.create_kernel(creation)
    steps = BatchSteps(exec="echo started; sleep 0.5; echo done; exit 5")
    seen: list[RunOutput] = []

    async def watch() -> None:
        async with contextlib.aclosing(first.run_batch(creation.kernel_id, steps)) as records:
            async for record in records:
                seen.append(record)

    task = asyncio.create_task(watch())
    await until(lambda: "started" in text(seen, "stdout"))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await first.shutdown()
    await asyncio.sleep(1.0)  # it ends meanwhile

    second = nodes()
    assert await second.recover() == [creation.kernel_id]
    records = await collect(second, creation.kernel_id, steps)
    assert text(records, "stdout") == "done\n"
    assert records[-1].kind == "finished" and records[-1].exit_code == 5


async def test_a_batch_command_that_ended_before_the_node_went_is_not_run_again(
    nodes: Callable[..., Node], data_dir: Path
) -> None:
    first = nodes()
    creation = request(interactive=False)
    await first.create_kernel(creation)
    steps = BatchSteps(exec="echo once >> runs.txt; echo ran; exit 2")
    records = await collect(first, creation.kernel_id, steps)
    assert records[-1].exit_code == 2
    await first.shutdown()  # before the core could end the session

    second = nodes()
    assert await second.recover() == [creation.kernel_id]
    again = await collect(second, creation.kernel_id, steps)
    assert again[-1].kind == "finished" and again[-1].exit_code == 2
    assert text(again, "stdout") == ""  # nothing new: the same run, ended
    runs = data_dir / "scratch" / str(creation.kernel_id) / "runs.txt"
    assert runs.read_text() == "once\n"  # noqa: ASYNC240
