"""Pre-built sandboxes per container image: after a session in an image, the node keeps a
sandbox of that image ready (overlay mounted, its first process's sandbox built on the
image's root), so the next session in it starts as a host session does; images no longer
used let theirs go, so image garbage collection can remove them. Real bubblewrap, a real
registry on loopback."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hangar.agent import node_pools
from hangar.agent.images.node_images import GcPolicy, NodeImages, collect_garbage
from hangar.agent.models import BatchSteps, ImageRequest
from hangar.agent.node import Node
from hangar.agent.node_errors import KernelStartFailed
from hangar.agent.runtimes import rootfs
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from tests.support.agent_node import collect, ends, make_node, request, text
from tests.support.oci_images import Entry, ImageBuild, Layout, file, python_files, shell_rootfs
from tests.support.registry import Registry, RegistryUnavailable, start_registry

HOST = "/usr/bin/python3"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An anonymous registry holding pool/one and pool/two (a shell each) and pool/py (a
    shell and Python)."""
    root = tmp_path_factory.mktemp("registry")
    try:
        with start_registry(root / "registry") as found:
            layout = Layout(root / "layout")
            base = shell_rootfs()
            for tag in ("one", "two"):
                app = [file("app/hello.sh", f"echo hello from {tag}\n", 0o755),
                       Entry("data", "dir", mode=0o777)]  # fmt: skip
                image = ImageBuild([base, app], env=["PATH=/usr/bin:/bin"])
                layout.tag(layout.image(image), tag)
                found.push(layout.root, f"pool/{tag}:latest", tag=tag)
            layout.tag(layout.image(ImageBuild([base, python_files()])), "py")
            found.push(layout.root, "pool/py:latest", tag="py")
            yield found
    except RegistryUnavailable as exc:
        pytest.skip(str(exc))


def _image(registry: Registry, tag: str) -> ImageRequest:
    return ImageRequest(f"{registry.host}/pool/{tag}:latest")


def _key(image: ImageRequest) -> str:
    return f"{HOST}\n{image.reference}"


async def _run(node: Node, kernel_id: uuid.UUID, command: str) -> tuple[str, int | None]:
    records = await collect(node, kernel_id, BatchSteps(exec=command))
    return text(records, "stdout") + text(records, "stderr"), ends(records)[-1][1]


async def _pooled(node: Node, key: str) -> str:
    """The id of the sandbox the pool keeps ready under ``key`` (waits until it has one)."""
    assert node.sandboxes is not None
    for _ in range(600):  # built in the background
        ready = node.sandboxes._ready.get(key)
        if ready:
            return ready[0].kernel_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"no sandbox ready for {key!r}")


async def _waiter(runtime: BubblewrapRuntime, kernel_id: str) -> int:
    """The pid of the sandbox built ahead for the kernel's next process (waits for it)."""
    assert runtime.waiters is not None
    for _ in range(600):
        pid = runtime.waiters.pid(kernel_id)
        if pid is not None:
            await runtime.settle(kernel_id)
            return pid
        await asyncio.sleep(0.05)
    raise AssertionError(f"no sandbox built ahead for {kernel_id}")


async def _end(node: Node) -> None:
    for kernel_id in node.kernel_ids():
        await node.destroy_kernel(kernel_id)
    await node.shutdown()


async def test_the_next_session_in_an_image_takes_a_sandbox_of_that_image(
    runtime: BubblewrapRuntime, data_dir: Path, registry: Registry
) -> None:
    node = make_node(runtime, data_dir, sandbox_pool_size=1)
    node.warm_pool([HOST])
    image = _image(registry, "one")
    built, creates = runtime.create, []

    async def create(spec):  # type: ignore[no-untyped-def]
        creates.append(spec.kernel_id)
        return await built(spec)

    runtime.create = create  # type: ignore[method-assign]
    try:
        first = request(image=image, interactive=False)
        await node.create_kernel(first)
        out, code = await _run(node, first.kernel_id, "echo mine > /data/mark; cat /data/mark")
        assert (out, code) == ("mine\n", 0)
        pooled = await _pooled(node, _key(image))
        waiter = await _waiter(runtime, pooled)  # its first process's sandbox, on the image

        second = request(image=image, interactive=False)
        await node.create_kernel(second)
        assert str(second.kernel_id) not in creates  # nothing built on the way
        assert not (data_dir / "scratch" / pooled).exists()
        assert runtime.waiters is not None
        assert runtime.waiters.pid(str(second.kernel_id)) == waiter  # taken along
        out, code = await _run(node, second.kernel_id, "sh /app/hello.sh; ls /data")
        assert code == 0, out
        assert out == "hello from one\n"  # the image's root, its own empty overlay
        out, code = await _run(node, first.kernel_id, "cat /data/mark")
        assert (out, code) == ("mine\n", 0)
        await _pooled(node, _key(image))  # kept ready for the next one
    finally:
        await _end(node)


async def test_an_image_no_longer_used_lets_its_sandboxes_go(
    runtime: BubblewrapRuntime,
    data_dir: Path,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(node_pools, "POOLED_IMAGES", 1)
    node = make_node(runtime, data_dir, sandbox_pool_size=1)
    one, two = _image(registry, "one"), _image(registry, "two")
    try:
        first = request(image=one, interactive=False)
        await node.create_kernel(first)
        pooled = await _pooled(node, _key(one))
        await node.destroy_kernel(first.kernel_id)
        await node.settle()
        stored = node.images.find(one)
        assert stored is not None
        # held by its pre-built sandbox: garbage collection leaves the image alone
        assert stored.manifest.digest not in node.images.store.unused_since(time.time() + 60)

        second = request(image=two, interactive=False)
        await node.create_kernel(second)  # the most recent image now: "one" is let go
        await _pooled(node, _key(two))
        for _ in range(200):
            if not (data_dir / "scratch" / pooled).exists():
                break
            await asyncio.sleep(0.05)
        assert not (data_dir / "scratch" / pooled).exists()
        assert stored.manifest.digest in node.images.store.unused_since(time.time() + 60)
        assert node.sandboxes is not None and _key(one) not in node.sandboxes.ready_keys()
    finally:
        await _end(node)


def _mounted(node: Node, image: ImageRequest) -> bool:
    """Whether the store sees a kernel's overlay mount the image (overlayfs or FUSE)."""
    stored = node.images.find(image)
    assert stored is not None
    return stored.manifest.digest not in node.images.store.unused_since(time.time() + 60)


async def _pooled_and_idle(node: Node, registry: Registry, tag: str) -> str:
    """Run one session in image ``tag`` and end it; the pool's sandbox of the image."""
    image = _image(registry, tag)
    session = request(image=image, interactive=False)
    await node.create_kernel(session)
    pooled = await _pooled(node, _key(image))
    await node.destroy_kernel(session.kernel_id)
    await node.settle()
    assert _mounted(node, image)  # held by its pre-built sandbox alone
    return pooled


@pytest.mark.parametrize("privileged", [True, False], ids=["overlayfs", "fuse-overlayfs"])
async def test_a_full_store_evicts_an_image_only_pooled_sandboxes_hold(
    make_runtime: Callable[..., BubblewrapRuntime],
    data_dir: Path,
    registry: Registry,
    privileged: bool,
) -> None:
    """A store too small for two images: an image whose last session ended is evicted for
    the next one even while the pool keeps a sandbox of it (the pool lets it go), and the
    image the next session runs in stays while it runs. A non-root agent (here: root told
    not to use its mount rights) pools image sandboxes on fuse-overlayfs the same way."""
    if not privileged and shutil.which(rootfs.FUSE_OVERLAYFS) is None:
        pytest.skip("fuse-overlayfs is not installed")
    one, two = _image(registry, "one"), _image(registry, "two")
    elsewhere = NodeImages(data_dir / "elsewhere", owner=None)
    size_two = (await elsewhere.ensure(two)).manifest.size
    runtime = make_runtime(privileged=privileged)
    node = make_node(runtime, data_dir, sandbox_pool_size=1)
    try:
        pooled = await _pooled_and_idle(node, registry, "one")
        store = node.images.store
        store.limit_bytes = store.usage() + size_two - 1  # one of them at a time

        await _waiter(runtime, pooled)  # its first process's sandbox too, on the image
        second = request(image=two, interactive=False)
        await node.create_kernel(second)  # was: "the image store is full"
        assert _mounted(node, two)
        assert await _run(node, second.kernel_id, "sh /app/hello.sh") == ("hello from two\n", 0)
        assert node.images.find(one) is None  # evicted
        assert not (data_dir / "scratch" / pooled).exists()
        assert node.sandboxes is not None and _key(one) not in node.sandboxes.ready_keys()

        third = request(image=one, interactive=False)  # "two" is in use: no room
        with pytest.raises(KernelStartFailed, match="full"):
            await node.create_kernel(third)
        assert await _run(node, second.kernel_id, "sh /app/hello.sh") == ("hello from two\n", 0)
        await node.destroy_kernel(second.kernel_id)
        await node.settle()
        pooled = await _pooled(node, _key(two))
        fourth = request(image=two, interactive=False)  # takes the pooled sandbox of "two"
        await node.create_kernel(fourth)
        assert not (data_dir / "scratch" / pooled).exists()
        assert await _run(node, fourth.kernel_id, "sh /app/hello.sh") == ("hello from two\n", 0)
        await node.destroy_kernel(fourth.kernel_id)
        await node.settle()
        await _pooled(node, _key(two))
        await node.create_kernel(third)  # "two" only pooled now: it goes, "one" comes back
        assert await _run(node, third.kernel_id, "sh /app/hello.sh") == ("hello from one\n", 0)
        assert node.images.find(two) is None
    finally:
        await _end(node)


@pytest.mark.parametrize("privileged", [True, False], ids=["overlayfs", "fuse-overlayfs"])
async def test_garbage_collection_removes_an_unused_image_pooled_sandboxes_hold(
    make_runtime: Callable[..., BubblewrapRuntime],
    data_dir: Path,
    registry: Registry,
    privileged: bool,
) -> None:
    if not privileged and shutil.which(rootfs.FUSE_OVERLAYFS) is None:
        pytest.skip("fuse-overlayfs is not installed")
    node = make_node(make_runtime(privileged=privileged), data_dir, sandbox_pool_size=1)
    image = _image(registry, "one")
    try:
        pooled = await _pooled_and_idle(node, registry, "one")
        stored = node.images.find(image)
        assert stored is not None
        later = time.time() + 3600
        freed = await collect_garbage(node.images, GcPolicy(unused_after=60), lambda: later)
        assert freed > 0 and node.images.find(image) is None
        assert not stored.rootfs.exists() and not (data_dir / "scratch" / pooled).exists()
        again = request(image=image, interactive=False)  # pulled again
        await node.create_kernel(again)
        assert await _run(node, again.kernel_id, "sh /app/hello.sh") == ("hello from one\n", 0)
    finally:
        await _end(node)


async def test_python_runs_in_a_pooled_sandbox_of_a_python_image(
    runtime: BubblewrapRuntime, data_dir: Path, registry: Registry
) -> None:
    """``backend.ai run`` on a Python image: ``python`` is found in the adopted sandbox's
    first run (built ahead, under the pooled kernel's paths) and in the next ones."""
    node = make_node(runtime, data_dir, sandbox_pool_size=1)
    image = _image(registry, "py")
    try:
        first = request(image=image, interactive=False)
        await node.create_kernel(first)
        await _waiter(runtime, await _pooled(node, _key(image)))
        second = request(image=image, interactive=False)
        await node.create_kernel(second)
        command = "python -c 'import sys; print(sys.prefix)'; echo $BACKENDAI_KERNEL_ID"
        for _ in range(2):  # the sandbox built ahead, then a new one
            out, code = await _run(node, second.kernel_id, command)
            assert (out, code) == (f"/usr\n{second.kernel_id}\n", 0)
    finally:
        await _end(node)
