"""The node's images: a kernel's :class:`ImageRequest` answered from the store, or pulled.

Pull failures become :class:`KernelStartFailed` with the registry's reason (not found, login
refused, a digest that does not match, a layer that tries to escape, the store is full).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hangar.agent.images.store import (
    ImageStore,
    ProgressCallback,
    PullProgress,
    Release,
    StoredImage,
    StoreFull,
)
from hangar.agent.images.unpack import Owner, UnsafeLayer
from hangar.agent.models import ImagePull, ImageRequest
from hangar.agent.node_errors import InvalidKernelRequest, KernelStartFailed
from hangar.util.oci.distribution import Credentials, RegistryClient, RegistryError
from hangar.util.oci.manifests import ManifestError
from hangar.util.oci.reference import InvalidReference, Reference, parse_reference

log = logging.getLogger(__name__)
IMAGE_STORE_DIR = ".hangar-images"


def _credentials(request: ImageRequest) -> Credentials | None:
    if request.username is None:
        return None
    return Credentials(request.username, request.password or "")


class NodeImages:
    def __init__(self, root: Path, *, owner: tuple[int, int] | None,
                 limit_bytes: int | None = None,
                 release: Release | None = None) -> None:  # fmt: skip
        """``release``: see :class:`ImageStore` (the node's pre-built sandboxes)."""
        self.root, self.release = root, release
        self._owner = Owner(*owner) if owner is not None else Owner()
        self.limit_bytes = limit_bytes
        self._store: ImageStore | None = None
        self._gc_task: asyncio.Task[None] | None = None
        self.gc_policy = GcPolicy()
        self._pulls: dict[str, asyncio.Task[StoredImage]] = {}
        self._progress: dict[str, PullProgress] = {}

    def pull_status(self, reference: str) -> ImagePull | None:
        """How far the pull of ``reference`` is (None: none running)."""
        found = self._progress.get(normalized(reference))
        if found is None:
            return None
        return ImagePull(found.reference, found.phase, found.done, found.total)

    @property
    def store_opened(self) -> ImageStore | None:
        """The store if one exists on disk (opened then), without making one."""
        if self._store is None and not (self.root / "images").is_dir():
            return None
        return self.store

    def start_gc(self, policy: GcPolicy) -> None:
        """Collect garbage on ``policy``'s schedule (needs a running loop; idempotent)."""
        if self._gc_task is None and policy.interval > 0:
            self._gc_task = asyncio.create_task(gc_loop(self, policy))

    async def stop_gc(self) -> None:
        task, self._gc_task = self._gc_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def store(self) -> ImageStore:
        """The store, made on first use (a node that never runs an image makes none)."""
        if self._store is None:
            self._store = ImageStore(self.root, limit_bytes=self.limit_bytes, owner=self._owner,
                                     release=self.release)  # fmt: skip
        return self._store

    def find(self, request: ImageRequest | None) -> StoredImage | None:
        """The stored image ``request`` names (None: no image asked, or not here)."""
        if request is None:
            return None
        return self.store.find(request.digest or normalized(request.reference))

    def digest_of(self, request: ImageRequest) -> str | None:
        """The manifest digest of the stored image ``request`` names (None: not here); it
        does not count as a use."""
        found = self.store.find(request.digest or normalized(request.reference), touch=False)
        return None if found is None else found.manifest.digest

    async def ensure(
        self, request: ImageRequest, on_progress: ProgressCallback = lambda p: None
    ) -> StoredImage:
        """The image, pulled if the node lacks it (concurrent asks share one pull).
        Raises InvalidKernelRequest, KernelStartFailed."""
        found = await asyncio.to_thread(self.find, request)
        if found is not None:
            return found
        key = request.digest or normalized(request.reference)
        task = self._pulls.get(key)
        if task is None:
            task = asyncio.create_task(self._pull(request, on_progress))
            self._pulls[key] = task
            task.add_done_callback(lambda _: self._pulls.pop(key, None))
        return await asyncio.shield(task)

    async def _pull(self, request: ImageRequest, on_progress: ProgressCallback) -> StoredImage:
        try:
            ref = parse_reference(request.reference)
        except InvalidReference as exc:
            raise InvalidKernelRequest(f"image {request.reference!r}: {exc}") from None

        def seen(progress: PullProgress) -> None:
            self._progress[str(ref)] = progress
            on_progress(progress)

        try:
            return await self._pull_ref(request, ref, seen)
        finally:
            self._progress.pop(str(ref), None)

    async def _pull_ref(
        self, request: ImageRequest, ref: Reference, on_progress: ProgressCallback
    ) -> StoredImage:
        insecure = True if request.insecure else None
        try:
            async with RegistryClient(
                ref.api_host, _credentials(request), insecure=insecure
            ) as client:
                image = await self.store.pull(client, ref, on_progress)
        except (RegistryError, ManifestError, StoreFull, UnsafeLayer, tarfile.TarError,
                EOFError, OSError) as exc:  # fmt: skip
            log.warning("pull of %s failed: %s", request.reference, exc)
            raise KernelStartFailed(f"Cannot pull image {request.reference}: {exc}") from exc
        if request.digest and image.manifest.digest != request.digest:
            raise KernelStartFailed(
                f"image {request.reference} is now {image.manifest.digest}, "
                f"not the {request.digest} asked for"
            )
        return image


def normalized(reference: str) -> str:
    """``reference`` as the store records it (``docker.io/library/x:latest``)."""
    try:
        return str(parse_reference(reference))
    except InvalidReference:
        return reference


@dataclass(frozen=True, slots=True)
class GcPolicy:
    """The node's scheduled image garbage collection: every ``interval`` seconds, delete
    what no image references (blobs, partial downloads, root file systems) and, with
    ``unused_after``, forget images no kernel used for that many seconds first."""

    interval: float = 3600.0
    unused_after: float | None = None


async def collect_garbage(
    images: NodeImages, policy: GcPolicy, clock: Callable[[], float] = time.time
) -> int:
    """One pass of ``policy``; the bytes freed."""
    if images.store_opened is None:  # no image was ever pulled here
        return 0
    store = images.store_opened
    if policy.unused_after is not None:
        for digest in await store.unused(clock() - policy.unused_after):
            await asyncio.to_thread(store.remove, digest)
            log.info("image %s unused for %.0f s: removed", digest, policy.unused_after)
    return await store.gc()


async def gc_loop(
    images: NodeImages, policy: GcPolicy, clock: Callable[[], float] = time.time
) -> None:
    """Run ``policy`` forever (cancel the task to stop it); a failed pass is logged."""
    while True:
        await asyncio.sleep(policy.interval)
        try:
            freed = await collect_garbage(images, policy, clock)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("image garbage collection failed: %s", exc)
            continue
        if freed:
            log.info("image garbage collection freed %d bytes", freed)
