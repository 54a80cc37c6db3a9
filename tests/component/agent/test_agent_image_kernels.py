"""Kernels in container images pulled from a loopback registry, on the real bubblewrap
runtime: the image's files and Env, a copy-on-write root per kernel, the image's own
Python, images without Python in batch mode, private images, hostile images refused."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from hangar.agent.images import nvidia
from hangar.agent.models import BatchSteps, ImageRequest
from hangar.agent.node import Node
from hangar.agent.node_errors import KernelStartFailed
from hangar.agent.runtimes import rootfs
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from tests.support.agent_node import (
    FAKE_GPUS,
    collect,
    ends,
    make_node,
    request,
    running_node,
    text,
)
from tests.support.oci_images import Entry, ImageBuild, file, python_files, shell_rootfs, symlink
from tests.support.registry import Registry, registry_holding

USER, PASSWORD = "team", "pw-for-team"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry with basic auth holding img/shell, img/python and img/hostile."""
    base = shell_rootfs()
    app = [file("app/hello.sh", "echo hello from $GREETING\n", 0o755),
           Entry("data", "dir", mode=0o755, uid=1000, gid=1000)]  # fmt: skip
    shell = ImageBuild([base, app], env=["PATH=/usr/bin:/bin", "GREETING=the image"],
                       cmd=["/bin/sh", "/app/hello.sh"])  # fmt: skip
    hostile = [symlink("escape", "../../../../../../../../tmp")]
    images = {
        "img/shell:latest": shell,
        "img/py:latest": ImageBuild([base, python_files()], compression="zstd"),
        "img/hostile:latest": ImageBuild([base, hostile]),
    }
    yield from registry_holding(tmp_path_factory, images, username=USER, password=PASSWORD)


@pytest.fixture
async def node(runtime: BubblewrapRuntime, data_dir: Path) -> AsyncIterator[Node]:
    async with running_node(runtime, data_dir) as node:
        yield node


def _image(registry: Registry, tag: str, password: str = PASSWORD) -> ImageRequest:
    return ImageRequest(f"{registry.host}/img/{tag}:latest", username=USER, password=password)


async def _run(node: Node, kernel_id: uuid.UUID, command: str) -> tuple[str, int | None]:
    records = await collect(node, kernel_id, BatchSteps(exec=command))
    return text(records, "stdout") + text(records, "stderr"), ends(records)[-1][1]


async def test_a_kernel_runs_in_the_images_root_with_its_env(
    node: Node, registry: Registry
) -> None:
    creation = request(image=_image(registry, "shell"), interpreter="/usr/bin/python3")
    await node.create_kernel(creation)
    out, code = await _run(node, creation.kernel_id, "sh /app/hello.sh; cat /etc/os-release; pwd")
    assert (out, code) == ("hello from the image\nID=hangar-test\n/home/work\n", 0)
    out, code = await _run(node, creation.kernel_id, "ls /usr/bin")
    assert "python3" not in out.split()  # the host's system is not there


async def test_each_kernel_writes_to_its_own_copy(node: Node, registry: Registry) -> None:
    first, second = (
        request(image=_image(registry, "shell")),
        request(image=_image(registry, "shell")),
    )
    await node.create_kernel(first)
    await node.create_kernel(second)
    out, code = await _run(
        node, first.kernel_id, "echo changed > /data/x; echo mine > /home/work/f; cat /data/x"
    )
    assert (out, code) == ("changed\n", 0)
    out, _ = await _run(node, first.kernel_id, "echo x > /app/new 2>&1; echo $?")
    assert "Permission denied" in out  # the image's own directories stay root's
    out, _ = await _run(node, second.kernel_id, "ls /data /home/work")
    assert "x" not in out.split() and "f" not in out.split()
    image = node.images.find(_image(registry, "shell"))
    assert image is not None and not (image.rootfs / "data" / "x").exists()


async def test_the_images_own_python_runs_batch_code(node: Node, registry: Registry) -> None:
    creation = request(image=_image(registry, "py"), interpreter="/usr/bin/python3",
                       interactive=False)  # fmt: skip
    await node.create_kernel(creation)
    await node.upload(
        creation.kernel_id, [("main.py", b"import sys, json\nprint(sys.prefix, json.dumps([1]))\n")]
    )
    records = await collect(node, creation.kernel_id, BatchSteps(exec="*"))
    assert text(records, "stdout") == "/usr [1]\n" and ends(records) == [("finished", 0)]
    out, _ = await _run(
        node, creation.kernel_id, "ls /usr/lib/python3/dist-packages 2>&1 | head -1"
    )
    assert "No such file" in out  # the host's packages are not there


async def test_wrong_credentials_and_hostile_images_are_refused(
    node: Node, registry: Registry
) -> None:
    with pytest.raises(KernelStartFailed, match="refused the credentials"):
        await node.create_kernel(request(image=_image(registry, "shell", "wrong")))
    with pytest.raises(KernelStartFailed, match="points out of the image"):
        await node.create_kernel(request(image=_image(registry, "hostile")))
    assert node.kernel_ids() == []


async def test_allocated_gpus_see_the_host_driver_and_only_their_devices(
    node: Node, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libs, bins = tmp_path / "driver-lib", tmp_path / "driver-bin"
    libs.mkdir()
    bins.mkdir()
    for name in ("libcuda.so.535.1", "libnvidia-ml.so.1", "libssl.so.3"):
        (libs / name).write_text(name)
    (bins / "nvidia-smi").write_text(
        '#!/bin/sh\necho "nvidia=$NVIDIA_VISIBLE_DEVICES cuda=$CUDA_VISIBLE_DEVICES"\n'
        'ls /usr/local/nvidia/lib64\necho "$LD_LIBRARY_PATH"\n'
    )
    (bins / "nvidia-smi").chmod(0o755)
    monkeypatch.setattr(nvidia, "LIBRARY_DIRS", (str(libs),))
    monkeypatch.setattr(nvidia, "PROGRAM_DIRS", (str(bins),))
    second = FAKE_GPUS[1]
    with_gpu = request(image=_image(registry, "shell"), gpu_devices=(second.uuid,))
    await node.create_kernel(with_gpu)
    out, code = await _run(node, with_gpu.kernel_id, "nvidia-smi")
    assert code == 0, out
    assert out.splitlines() == [
        f"nvidia={second.uuid} cuda={second.uuid}",
        "libcuda.so.535.1",
        "libnvidia-ml.so.1",
        "/usr/local/nvidia/lib64",
    ]
    without = request(image=_image(registry, "shell"))
    await node.create_kernel(without)
    out, _ = await _run(
        node, without.kernel_id, "ls /usr/local/nvidia; echo ${NVIDIA_VISIBLE_DEVICES:-none}"
    )
    assert "none\n" in out and "/usr/local/nvidia': No such file" in out


async def test_query_mode_runs_in_the_images_python_with_hangars_runner(
    node: Node, registry: Registry
) -> None:
    creation = request(image=_image(registry, "py"), interpreter="/usr/bin/python3")
    await node.create_kernel(creation)
    code = "import sys, os\nx = 41\n"
    code += "print(sys.prefix, os.path.exists('/usr/lib/python3/dist-packages'))"
    async with contextlib.aclosing(node.run_query(creation.kernel_id, code, 60)) as stream:
        records = [record async for record in stream]
    assert text(records, "stdout") == "/usr False\n", records
    async with contextlib.aclosing(
        node.run_query(creation.kernel_id, "print(x + 1)", 60)
    ) as stream:
        assert text([r async for r in stream], "stdout") == "42\n"
    # The runner is the Jupyter kernel's alone: the session's other programs see none of it.
    check = "import os, sys; print(os.environ.get('LD_LIBRARY_PATH'), "
    check += "[p for p in sys.path if 'hangar' in p])"
    out, code = await _run(node, creation.kernel_id, f'python3 -c "{check}"')
    assert (out, code) == ("None []\n", 0)


def _mounts() -> str:
    return Path("/proc/self/mounts").read_text()


async def test_an_unprivileged_runtime_runs_images_on_fuse_overlayfs(
    make_runtime: Callable[..., BubblewrapRuntime], data_dir: Path, registry: Registry
) -> None:
    """A runtime without root's mount rights (here: root told not to use them, as FUSE is
    root-only on this machine) puts each kernel's copy-on-write root on fuse-overlayfs."""
    if shutil.which(rootfs.FUSE_OVERLAYFS) is None:
        pytest.skip("fuse-overlayfs is not installed")
    node = make_node(make_runtime(privileged=False), data_dir)
    creation = request(image=_image(registry, "shell"))
    try:
        await node.create_kernel(creation)
        merged = str(data_dir / "scratch" / rootfs.OVERLAYS_DIR / str(creation.kernel_id))
        assert f"{merged}/merged fuse.fuse-overlayfs " in _mounts()
        out, code = await _run(
            node, creation.kernel_id, "echo new > /data/x; cat /data/x /app/hello.sh"
        )
        assert (out, code) == ("new\necho hello from $GREETING\n", 0)
    finally:
        await node.destroy_kernel(creation.kernel_id)
        await node.settle()
    assert f"{merged}/merged" not in _mounts()
    image = node.images.find(_image(registry, "shell"))
    assert image is not None and not (image.rootfs / "data" / "x").exists()


async def test_an_image_kernel_takes_a_pre_built_sandbox(
    runtime: BubblewrapRuntime, data_dir: Path, registry: Registry
) -> None:
    """Image sessions start as fast as host ones: a pre-built bare sandbox (scratch disk,
    network, cgroup) becomes the image kernel, with the image's overlay as its root."""
    node = make_node(runtime, data_dir, sandbox_pool_size=1)
    node.warm_pool(["/usr/bin/python3"])
    built = runtime.create
    creates: list[str] = []

    async def create(spec):  # type: ignore[no-untyped-def]
        creates.append(spec.kernel_id)
        return await built(spec)

    try:
        assert node.sandboxes is not None
        for _ in range(600):  # built in the background
            if node.sandboxes._ready.get("/usr/bin/python3"):
                break
            await asyncio.sleep(0.05)
        pooled = node.sandboxes._ready["/usr/bin/python3"][0].kernel_id
        runtime.create = create  # type: ignore[method-assign]
        creation = request(image=_image(registry, "shell"), interactive=False)
        await node.create_kernel(creation)
        assert str(creation.kernel_id) not in creates  # nothing built on the way
        assert not (data_dir / "scratch" / pooled).exists()
        out, code = await _run(node, creation.kernel_id, "sh /app/hello.sh; ls /usr/bin")
        assert code == 0 and out.startswith("hello from the image\n"), out
        assert "python3" not in out.split()
    finally:
        for kernel_id in node.kernel_ids():
            await node.destroy_kernel(kernel_id)
        await node.shutdown()
