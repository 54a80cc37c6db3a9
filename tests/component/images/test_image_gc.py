"""Scheduled garbage collection of a node's image store: a loop on a short interval deletes
what no image references, never the blobs of a pull in progress, and forgets images unused
for longer than the policy allows (a fake clock)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hangar.agent.images.node_images import GcPolicy, NodeImages, collect_garbage
from hangar.agent.models import ImageRequest
from hangar.util.oci.distribution import RegistryClient
from tests.component.images.test_image_pulls import _push
from tests.support.oci_images import ImageBuild, file
from tests.support.registry import Registry


def _blobs(root: Path) -> set[str]:
    return {p.name for p in (root / "blobs" / "sha256").iterdir()}


async def test_the_scheduled_collection_deletes_what_no_image_uses(
    registry: Registry, tmp_path: Path
) -> None:
    _push(registry, tmp_path, "sched/one", ImageBuild([[file("one", "1" * 5000)]]))
    _push(registry, tmp_path, "sched/two", ImageBuild([[file("two", "2" * 5000)]]))
    images = NodeImages(tmp_path / "store", owner=None)
    one = await images.ensure(ImageRequest(f"{registry.host}/sched/one:latest", insecure=True))
    two = await images.ensure(ImageRequest(f"{registry.host}/sched/two:latest", insecure=True))
    (images.root / "partial" / ("0" * 64)).write_bytes(b"left by a failed pull")
    kept = _blobs(images.root)
    assert images.store.remove(one.reference)
    images.start_gc(GcPolicy(interval=0.05))
    try:
        for _ in range(200):  # 10 s at most
            if not one.rootfs.exists():
                break
            await asyncio.sleep(0.05)
    finally:
        await images.stop_gc()
    assert not one.rootfs.exists() and (two.rootfs / "two").exists()
    gone = {one.manifest.config.hex, one.manifest.layers[0].descriptor.hex}
    assert _blobs(images.root) == kept - gone
    assert list((images.root / "partial").iterdir()) == []


async def test_a_pull_in_progress_keeps_its_blobs_through_a_collection(
    registry: Registry, tmp_path: Path
) -> None:
    layers = [[file(f"l{n}", str(n) * 200_000)] for n in range(4)]
    _push(registry, tmp_path, "sched/slow", ImageBuild(layers))
    images = NodeImages(tmp_path / "store", owner=None)
    store = images.store
    real_download = RegistryClient.download
    downloads = 0

    async def download(self: RegistryClient, *args: object, **kwargs: object) -> None:
        nonlocal downloads
        await real_download(self, *args, **kwargs)  # type: ignore[arg-type]
        downloads += 1
        if downloads == 2:  # two layers stored, two to come, no image record yet
            assert await store.gc() == 0

    RegistryClient.download = download  # type: ignore[method-assign]
    try:
        image = await images.ensure(ImageRequest(f"{registry.host}/sched/slow:latest",
                                                 insecure=True))  # fmt: skip
    finally:
        RegistryClient.download = real_download  # type: ignore[method-assign]
    assert downloads == 4 and (image.rootfs / "l3").exists()


async def test_images_unused_past_the_policy_are_forgotten(
    registry: Registry, tmp_path: Path
) -> None:
    _push(registry, tmp_path, "sched/old", ImageBuild([[file("old", "o")]]))
    images = NodeImages(tmp_path / "store", owner=None)
    request = ImageRequest(f"{registry.host}/sched/old:latest", insecure=True)
    old = await images.ensure(request)
    policy = GcPolicy(interval=3600, unused_after=86400)
    assert await collect_garbage(images, policy, clock=lambda: time.time() + 3600) == 0
    assert images.find(request) is not None  # used an hour ago: kept
    freed = await collect_garbage(images, policy, clock=lambda: time.time() + 2 * 86400)
    assert freed > 0 and images.find(request) is None and not old.rootfs.exists()
    assert await collect_garbage(NodeImages(tmp_path / "none", owner=None), policy) == 0
    assert not (tmp_path / "none").exists()  # a node that never pulled makes no store
