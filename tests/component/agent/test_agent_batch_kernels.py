"""Batch sessions' kernels on the real bubblewrap runtime: no Jupyter kernel is started for
them, nor taken from the pool of pre-started ones, while an interactive kernel on the same
node gets one. Their commands still run, and a query sent anyway still answers."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hangar.agent.models import BatchSteps
from hangar.agent.node import Node
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from tests.support.agent_node import collect, ends, make_node, request, text

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
async def node(runtime: BubblewrapRuntime, data_dir: Path) -> AsyncIterator[Node]:
    node = make_node(runtime, data_dir, query_pool_size=1, query_on_start=True)
    node.warm_pool([PYTHON])
    yield node
    for kernel_id in node.kernel_ids():
        await node.destroy_kernel(kernel_id)
    await node.shutdown()


async def pooled(node: Node) -> list[str]:
    """The ids of the pre-started kernels, once the pool has one."""
    assert node.pool is not None
    for _ in range(600):  # the pooled kernel starts in the background
        if node.pool._ready.get(PYTHON):
            break
        await asyncio.sleep(0.05)
    return [p.kernel_id for p in node.pool._ready[PYTHON]]


def commands(runtime: BubblewrapRuntime, kernel_id: uuid.UUID) -> str:
    """The command lines of the kernel's processes, seen from the host (its cgroup)."""
    assert runtime.cgroups is not None
    lines = []
    for pid in runtime.cgroups.cgroup_for(str(kernel_id)).pids():
        with contextlib.suppress(OSError):
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return "\n".join(lines)


async def cell(node: Node, kernel_id: uuid.UUID, code: str) -> str:
    async def run() -> str:
        async with contextlib.aclosing(node.run_query(kernel_id, code)) as records:
            return "".join([r.text async for r in records if r.kind == "stdout"])

    return await asyncio.wait_for(run(), 60)


async def test_a_batch_kernel_starts_no_jupyter_kernel(
    node: Node, runtime: BubblewrapRuntime
) -> None:
    ready = await pooled(node)
    assert ready
    batch = request(interpreter=PYTHON, interactive=False)
    await node.create_kernel(batch)
    assert await pooled(node) == ready  # the pre-started kernel is left for a notebook
    assert str(batch.kernel_id) not in node.query._entries
    records = await collect(node, batch.kernel_id, BatchSteps(exec="echo ran"))
    assert (text(records, "stdout"), ends(records)) == ("ran\n", [("finished", 0)])
    if runtime.cgroups is not None:  # nothing but its commands ever ran in the session
        assert "ipykernel" not in commands(runtime, batch.kernel_id)

    # The control: an interactive kernel on the same node gets one from the start.
    interactive = request(interpreter=PYTHON)
    await node.create_kernel(interactive)
    assert str(interactive.kernel_id) in node.query._entries
    if runtime.cgroups is not None:
        assert "ipykernel" in commands(runtime, interactive.kernel_id)

    # A query sent to the batch kernel anyway starts one then, and answers.
    assert await cell(node, batch.kernel_id, "print(6 * 7)") == "42\n"
