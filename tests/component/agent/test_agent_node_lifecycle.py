"""Node info and the kernel lifecycle on the fake runtime: create, bootstrap, environment,
restart, destroy, stats."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from hangar.agent import node as node_module
from hangar.agent.models import BatchSteps, ContainerStats, DeviceInfo, RunOutput
from hangar.agent.node import Node
from hangar.agent.node_errors import (
    InvalidKernelRequest,
    KernelExists,
    KernelStartFailed,
    UnknownKernel,
)
from hangar.agent.runtimes.fake import FakeRuntime
from hangar.agent.specs import shim_dir
from tests.support.agent_node import FAKE_GPUS, collect, ends, make_node, request, text


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    node = make_node(FakeRuntime(), tmp_path)
    yield node
    for kernel_id in node.kernel_ids():
        await node.destroy_kernel(kernel_id)


async def test_info_reports_cpu_mem_and_devices(node: Node) -> None:
    info = await node.info()
    assert info.agent_id == "i-test"
    assert dict(info.slots) == {"cpu": Decimal(4), "mem": Decimal(8 << 30)}
    assert info.devices == tuple(
        DeviceInfo(d.uuid, "FakeGPU-16G", 16 << 30, Decimal("1.0")) for d in FAKE_GPUS
    )
    assert info.architecture and info.version
    assert "runtime: fake" in info.notes


def test_default_agent_id_is_stable_per_host(tmp_path: Path) -> None:
    first = Node(FakeRuntime(), scratch_root=tmp_path, log_dir=tmp_path, use_nvml=False)
    second = Node(FakeRuntime(), scratch_root=tmp_path, log_dir=tmp_path, use_nvml=False)
    assert first.agent_id == second.agent_id and first.agent_id.startswith("i-")


async def test_kernel_environment(node: Node) -> None:
    creation = request(
        session_name="my-sess",
        environ={"FOO": "bar"},
        gpu_devices=(FAKE_GPUS[1].uuid,),
    )
    await node.create_kernel(creation)
    script = 'echo "$FOO $BACKENDAI_SESSION_NAME $BACKENDAI_SESSION_ID $CUDA_VISIBLE_DEVICES"'
    records = await collect(node, creation.kernel_id, BatchSteps(exec=script))
    assert text(records, "stdout").split() == [
        "bar",
        "my-sess",
        str(creation.kernel_id),
        FAKE_GPUS[1].uuid,
    ]


async def test_python_means_the_interpreter_and_pip_works(node: Node) -> None:
    creation = request(interpreter="/usr/bin/python3")
    await node.create_kernel(creation)
    script = "command -v python; python -c 'import sys; print(sys.version_info[0])'"
    records = await collect(node, creation.kernel_id, BatchSteps(exec=script))
    shim = shim_dir(node.scratch_root, str(creation.kernel_id))
    assert text(records, "stdout") == f"{shim}/bin/python\n3\n"


async def test_create_twice_is_refused(node: Node) -> None:
    creation = request()
    await node.create_kernel(creation)
    with pytest.raises(KernelExists):
        await node.create_kernel(creation)


async def test_invalid_request_is_refused_before_anything_starts(node: Node) -> None:
    creation = request(gpu_devices=("nope",))
    with pytest.raises(InvalidKernelRequest):
        await node.create_kernel(creation)
    assert node.kernel_ids() == []
    assert not (node.scratch_root / str(creation.kernel_id)).exists()


async def test_bootstrap_runs_in_home_with_bash(node: Node) -> None:
    creation = request(bootstrap_script="[[ -n $BASH_VERSION ]] && touch bootstrapped; echo ok")
    await node.create_kernel(creation)
    entries = await node.list_files(creation.kernel_id, ".")
    assert {"bootstrap.sh", "bootstrapped"} <= {e.filename for e in entries[1]}
    assert "ok" in await node.logs(creation.kernel_id)


async def test_failed_bootstrap_leaves_nothing_but_the_log(node: Node) -> None:
    creation = request(bootstrap_script="echo half-done; echo broken >&2; exit 7")
    with pytest.raises(KernelStartFailed, match="Bootstrap script failed") as caught:
        await node.create_kernel(creation)
    assert "broken" in str(caught.value)
    key = str(creation.kernel_id)
    assert node.kernel_ids() == []
    assert not (node.scratch_root / key).exists()
    assert not shim_dir(node.scratch_root, key).exists()
    assert "half-done" in await node.logs(creation.kernel_id)
    await node.create_kernel(request(kernel_id=creation.kernel_id))  # the id is free again


async def test_destroy_returns_stats_removes_scratch_and_is_idempotent(node: Node) -> None:
    creation = request()
    await node.create_kernel(creation)
    await node.upload(creation.kernel_id, [("data.bin", b"x" * 1000)])
    stats = await node.destroy_kernel(creation.kernel_id)
    assert isinstance(stats, ContainerStats)
    assert stats.io_cur_scratch_size >= 1000
    key = str(creation.kernel_id)
    await node.settle()  # the files go right after the answer
    assert not (node.scratch_root / key).exists()
    assert not shim_dir(node.scratch_root, key).exists()
    assert await node.destroy_kernel(creation.kernel_id) is None
    assert await node.destroy_kernel(uuid.uuid4()) is None
    with pytest.raises(UnknownKernel):
        await node.stats(creation.kernel_id)


async def test_restart_keeps_files_and_ends_the_active_run(node: Node) -> None:
    creation = request()
    await node.create_kernel(creation)
    kernel = creation.kernel_id
    await node.upload(kernel, [("keep.txt", b"kept")])
    run = node.run_batch(kernel, BatchSteps(exec="echo ready; sleep 60"))
    async with contextlib.aclosing(run):
        await anext(run)
        await node.restart_kernel(kernel)
        rest = await asyncio.wait_for(_drain(run), 10)
    assert ends(rest) == [("finished", 137)]
    records = await collect(node, kernel, BatchSteps(exec="cat keep.txt"))
    assert text(records, "stdout") == "kept"
    with pytest.raises(UnknownKernel):
        await node.restart_kernel(uuid.uuid4())


async def test_stats_of_a_live_kernel(node: Node) -> None:
    creation = request()
    await node.create_kernel(creation)
    await collect(node, creation.kernel_id, BatchSteps(exec="python -c 'sum(range(10**6))'"))
    stats = await node.stats(creation.kernel_id)
    assert isinstance(stats, ContainerStats) and stats.cpu_used >= 0


async def _drain(run: AsyncIterator[RunOutput]) -> list[RunOutput]:
    return [record async for record in run]


async def test_a_jupyter_pool_refill_waits_until_sessions_stop_coming(tmp_path: Path) -> None:
    """Starting a Jupyter kernel costs ~0.6 s of CPU: a pool refill waits until no kernel
    started, ran or went for a while, so that a burst of short sessions is not slowed down."""
    node = make_node(FakeRuntime(), tmp_path, query_pool_size=1)
    try:
        assert node.pool is not None and node.pool.quiet is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        await node.pool.quiet()  # nothing happened yet: at once
        assert loop.time() - started < node_module.IDLE_GAP
        made = request()
        await node.create_kernel(made)
        await node.destroy_kernel(made.kernel_id)
        started = loop.time()
        await node.pool.quiet()
        assert loop.time() - started >= node_module.IDLE_GAP * 0.9
    finally:
        await node.shutdown()
