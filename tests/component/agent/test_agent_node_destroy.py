"""Destroying a kernel answers with its stats at once; its processes, limits and files go
right after, in the background, and nothing of it is left once the node settles."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from hangar.agent.models import BatchSteps, ContainerStats
from hangar.agent.node_errors import UnknownKernel
from hangar.agent.runtimes.fake import FakeRuntime
from hangar.agent.specs import shim_dir
from tests.support.agent_node import make_node, request


class SlowDestroy(FakeRuntime):
    """A fake runtime whose destroy waits until the test lets it go on."""

    def __init__(self) -> None:
        super().__init__()
        self.go_on = asyncio.Event()
        self.destroying: list[str] = []

    async def destroy(self, kernel_id: str, *, remove_scratch: bool) -> None:
        self.destroying.append(kernel_id)
        await self.go_on.wait()
        await super().destroy(kernel_id, remove_scratch=remove_scratch)


async def test_destroy_answers_before_the_cleanup_and_the_cleanup_finishes(
    tmp_path: Path,
) -> None:
    runtime = SlowDestroy()
    node = make_node(runtime, tmp_path)
    creation = request()
    await node.create_kernel(creation)
    key = str(creation.kernel_id)
    await node.upload(creation.kernel_id, [("data.bin", b"x" * 1000)])
    run = node.run_batch(creation.kernel_id, BatchSteps(exec="echo started; sleep 60"))
    async with contextlib.aclosing(run):
        assert (await anext(run)).text == "started\n"
        stats = await asyncio.wait_for(node.destroy_kernel(creation.kernel_id), 5)
        assert isinstance(stats, ContainerStats) and stats.io_cur_scratch_size >= 1000
        # the run is killed before the answer, whatever the cleanup still has to do
        rest = [record async for record in run]
        assert rest[-1].kind == "finished" and rest[-1].exit_code != 0
    assert node.kernel_ids() == []
    with pytest.raises(UnknownKernel):
        await node.stats(creation.kernel_id)
    for _ in range(200):  # the cleanup gets under way, and waits for the runtime
        if runtime.destroying:
            break
        await asyncio.sleep(0.01)
    assert runtime.destroying == [key]
    assert (node.scratch_root / key).exists()
    runtime.go_on.set()
    await asyncio.wait_for(node.settle(), 5)
    assert not (node.scratch_root / key).exists()
    assert not shim_dir(node.scratch_root, key).exists()
    assert "started" in await node.logs(creation.kernel_id)  # the console log is kept


async def test_a_kernel_of_the_same_id_waits_for_the_cleanup(tmp_path: Path) -> None:
    runtime = SlowDestroy()
    node = make_node(runtime, tmp_path)
    creation = request()
    await node.create_kernel(creation)
    await node.upload(creation.kernel_id, [("old.txt", b"old")])
    await node.destroy_kernel(creation.kernel_id)
    again = asyncio.create_task(node.create_kernel(request(kernel_id=creation.kernel_id)))
    await asyncio.sleep(0.05)
    assert not again.done()
    runtime.go_on.set()
    await asyncio.wait_for(again, 5)
    _, entries = await node.list_files(creation.kernel_id, ".")
    assert "old.txt" not in {entry.filename for entry in entries}  # a fresh scratch dir
    await node.destroy_kernel(creation.kernel_id)
    await node.settle()


async def test_shutdown_finishes_the_cleanups(tmp_path: Path) -> None:
    runtime = SlowDestroy()
    node = make_node(runtime, tmp_path)
    creation = request()
    await node.create_kernel(creation)
    await node.destroy_kernel(creation.kernel_id)
    assert await node.destroy_kernel(creation.kernel_id) is None  # idempotent
    shutdown = asyncio.create_task(node.shutdown())
    await asyncio.sleep(0.05)
    assert not shutdown.done()
    runtime.go_on.set()
    await asyncio.wait_for(shutdown, 5)
    assert not (node.scratch_root / str(creation.kernel_id)).exists()
    assert runtime.destroying == [str(creation.kernel_id)]  # once, not twice


async def test_a_short_session_starts_no_jupyter_kernel(tmp_path: Path) -> None:
    node = make_node(FakeRuntime(), tmp_path, query_on_start=True, query_start_delay=0.2)
    short, kept = request(), request()
    await node.create_kernel(short)
    await node.create_kernel(kept)
    await node.destroy_kernel(short.kernel_id)
    await asyncio.sleep(0.3)
    assert str(short.kernel_id) not in node.query._entries
    assert str(kept.kernel_id) in node.query._entries  # started once the delay passed
    await node.destroy_kernel(kept.kernel_id)
    await node.shutdown()
