"""Pre-built sandboxes: a new kernel takes a ready one (its scratch dir, limits, network and
disk made beforehand) instead of building its own, batch kernels too; the pool refills."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hangar.agent.models import BatchSteps, MountRequest
from hangar.agent.node import Node
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from tests.support.agent_node import collect, ends, make_node, request, text

PYTHON = "/usr/bin/python3"


async def ready(node: Node) -> list[str]:
    """The ids of the pre-built sandboxes, once the pool has one."""
    assert node.sandboxes is not None
    for _ in range(600):  # they are built in the background
        if node.sandboxes._ready.get(PYTHON):
            break
        await asyncio.sleep(0.05)
    return [p.kernel_id for p in node.sandboxes._ready[PYTHON]]


async def test_a_batch_kernel_takes_a_pre_built_sandbox(
    runtime: BubblewrapRuntime, data_dir: Path
) -> None:
    node = make_node(runtime, data_dir, sandbox_pool_size=1)
    node.warm_pool([PYTHON])
    built = runtime.create
    creates: list[str] = []

    async def create(spec):  # type: ignore[no-untyped-def]
        creates.append(spec.kernel_id)
        return await built(spec)

    try:
        pooled = await ready(node)
        runtime.create = create  # type: ignore[method-assign]
        batch = request(interpreter=PYTHON, interactive=False, environ={"GREETING": "hi"},
                        bootstrap_script="echo prepared > ready.txt")  # fmt: skip
        await node.create_kernel(batch)
        key = str(batch.kernel_id)
        assert key not in creates  # nothing built on the way
        assert not (data_dir / "scratch" / pooled[0]).exists()
        script = "cat ready.txt; echo $GREETING $BACKENDAI_SESSION_ID; command -v python; id -u"
        records = await collect(node, batch.kernel_id, BatchSteps(exec=script))
        shim = data_dir / "scratch" / ".hangar-shims" / key
        assert text(records, "stdout").split() == ["prepared", "hi", key, f"{shim}/bin/python",
                                                    "1000"]  # fmt: skip
        assert ends(records) == [("finished", 0)]
        assert (data_dir / "scratch" / key / "ready.txt").exists()
        if runtime.cgroups is not None:
            assert runtime.cgroups.cgroup_for(key).exists()
            assert not runtime.cgroups.cgroup_for(pooled[0]).exists()
        refilled = await ready(node)  # a new one is built after the taken one
        assert refilled and refilled != pooled
        # a kernel the sandboxes do not fit (a folder mount) builds its own
        folder = data_dir / "folder"
        folder.mkdir()
        mounted = request(mounts=(MountRequest(folder, "/home/work/data", False),))
        await node.create_kernel(mounted)
        assert str(mounted.kernel_id) in creates
        assert await ready(node) == refilled
    finally:
        for kernel_id in node.kernel_ids():
            await node.destroy_kernel(kernel_id)
        await node.shutdown()
    leftovers = [p.name for p in (data_dir / "scratch").iterdir() if p.name.startswith("pool-")]
    assert leftovers == []
