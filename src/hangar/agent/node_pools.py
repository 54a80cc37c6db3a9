"""The node's pools: pre-started Jupyter kernels and pre-built sandboxes (see
:mod:`hangar.agent.kernels.pool`), how a new kernel adopts one, and when they refill.

Pre-built sandboxes are kept per interpreter and, for container images, per image too: a
session in an image makes the pool keep a sandbox of that image ready (its overlay mounted,
its next process's sandbox built on the image's root), so the next session in the same image
starts as a host one does. Only recently used images are kept so (``POOLED_IMAGES``, each
for ``POOLED_IMAGE_KEEP`` seconds after its last session). A pooled sandbox mounts its image,
which the image store would then have to leave alone: when the store must evict that image
(full) or collect it (unused), it asks :meth:`NodePools._release_image` to let it go first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Sequence
from pathlib import Path

from hangar.agent.kernels.pool import (
    KernelPool,
    Pooled,
    fits,
    fits_sandbox,
    key_interpreter,
    pool_key,
)
from hangar.agent.models import ImageRequest, KernelRequest
from hangar.agent.node_state import (
    IDLE_GAP,
    IDLE_WAIT,
    POOL_QUIET_WAIT,
    POOLED_IMAGE_KEEP,
    POOLED_IMAGES,
    NodeState,
    _Kernel,
)
from hangar.agent.runtimes.base import KernelRuntime, KernelSpec
from hangar.agent.specs import build_spec, shim_dir


class NodePools(NodeState):
    """Part of :class:`~hangar.agent.node.Node`: its pools."""

    async def _adopt(self, kernel: _Kernel) -> Pooled | None:
        """A pre-started kernel or sandbox adopted as this kernel, unless its scratch dir
        was kept (a resumed kernel starts in it)."""
        if kernel.spec.scratch_dir.exists():
            return None
        return await self._adopt_pooled(kernel) or await self._adopt_sandbox(kernel)

    async def _adopt_pooled(self, kernel: _Kernel) -> Pooled | None:
        """A pre-started Jupyter kernel's sandbox, adopted as this kernel, where one fits."""
        wanted = kernel.python and kernel.request.interactive  # batch sessions run commands
        if self.pool is None or not wanted or not fits(kernel.request):
            return None
        shim = shim_dir(self.scratch_root, kernel.spec.kernel_id)
        return await self.pool.adopt(kernel.request.interpreter, kernel.spec, shim)

    def _pool_spec(self, pool_id: str, key: str) -> tuple[KernelSpec, Path]:
        """The spec of a pooled kernel: a default request's, under the pool id. ``key`` is
        an interpreter, or an image's pool key (see :meth:`_image_key`). Raises
        InvalidKernelRequest (the image is no longer on the node) and OSError."""
        interpreter, image = key_interpreter(key), None
        if key != interpreter:
            if key not in self._pooled_images:
                raise OSError("the image is no longer kept ready")
            image = self._pooled_images[key][0]
        request = KernelRequest(uuid.uuid4(), "pool", interpreter=interpreter, image=image)
        spec = build_spec(
            request, scratch_root=self.scratch_root, uid=self.uid, gid=self.gid,
            devices=(), pids_max=self.limits.pids_max, image=self.images.find(image),
        )  # fmt: skip
        shim = shim_dir(self.scratch_root, pool_id)
        path = spec.environ["PATH"].replace(str(request.kernel_id), pool_id)
        spec = dataclasses.replace(
            spec, kernel_id=pool_id, scratch_dir=self.scratch_root / pool_id,
            environ={**spec.environ, "PATH": path},
            image=dataclasses.replace(spec.image, interpreter_prefix=shim),
        )  # fmt: skip
        return self.services.with_mounts(spec), shim

    def _sandbox_pool(self, size: int) -> KernelPool | None:
        """The pool of pre-built bare sandboxes, where the runtime can adopt kernels."""
        adopts = type(self.runtime).adopt is not KernelRuntime.adopt
        if size <= 0 or not adopts:
            return None
        return KernelPool(
            self.runtime, self._pool_spec, size=size, refill_delay=0.1, query=False,
            quiet=self._quiet, files=self.services,
        )  # fmt: skip

    async def _quiet(self) -> None:
        """Wait until no kernel runs a command (at most ``POOL_QUIET_WAIT`` seconds):
        pre-building must not slow down a live session's command."""

        async def idle() -> None:
            while busy := [k.lock for k in self._kernels.values() if k.lock.locked()]:
                for lock in busy:  # taken and given back at once: a run waiting goes first
                    async with lock:
                        pass

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(idle(), POOL_QUIET_WAIT)

    async def _idle(self) -> None:
        """Wait until no kernel starts or runs a command and none did for ``IDLE_GAP``
        seconds (at most ``IDLE_WAIT`` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + IDLE_WAIT
        while (now := loop.time()) < deadline:
            busy = self._starting or any(k.lock.locked() for k in self._kernels.values())
            calm = now - self._active_at
            if not busy and calm >= IDLE_GAP:
                return
            await asyncio.sleep(min(max(IDLE_GAP - calm, 0.05), deadline - now))

    async def _adopt_sandbox(self, kernel: _Kernel) -> Pooled | None:
        """A pre-built sandbox, adopted as this kernel, where one fits: one of its image
        where the pool has one, else a host one (the adoption mounts the image)."""
        if self.sandboxes is None or not fits_sandbox(kernel.request):
            return None
        shim = shim_dir(self.scratch_root, kernel.spec.kernel_id)
        image = kernel.request.image
        if image is not None:
            key = self._image_key(kernel.request.interpreter, image)
            pooled = await self.sandboxes.adopt(key, kernel.spec, shim)
            if pooled is not None:
                return pooled
        return await self.sandboxes.adopt(kernel.request.interpreter, kernel.spec, shim)

    def _image_key(self, interpreter: str, image: ImageRequest) -> str:
        """The pool key of ``image`` (its sandboxes are kept from now on, see the module's
        note); the least recently used image beyond ``POOLED_IMAGES`` is let go."""
        key = pool_key(interpreter, image.digest or image.reference)
        previous = self._pooled_images.pop(key, None)
        if previous is not None:
            previous[1].cancel()
        loop = asyncio.get_running_loop()
        expiry = loop.call_later(POOLED_IMAGE_KEEP, self._forget_image, key)
        self._pooled_images[key] = (image, expiry)  # last in the dict: the most recent
        while len(self._pooled_images) > POOLED_IMAGES:
            self._forget_image(next(iter(self._pooled_images)))
        return key

    def _forget_image(self, key: str) -> None:
        """Stop keeping sandboxes of the image of pool key ``key``."""
        found = self._pooled_images.pop(key, None)
        if found is not None:
            found[1].cancel()
        if self.sandboxes is not None:
            self.sandboxes.forget(key)

    async def _release_image(self, digest: str) -> bool:
        """Let go of the pre-built sandboxes of the image ``digest`` unless a kernel runs in
        it (waits until they are destroyed, their overlays unmounted); whether none does."""
        rootfs = self.images.store.rootfs_path(digest)
        if any(kernel.spec.image.rootfs == rootfs for kernel in self._kernels.values()):
            return False
        keys = [key for key, (image, _) in list(self._pooled_images.items())
                if await asyncio.to_thread(self.images.digest_of, image) == digest]  # fmt: skip
        for key in keys:
            self._forget_image(key)
            if self.sandboxes is not None:
                await self.sandboxes.release(key)
        return True

    def warm_pool(self, interpreters: Sequence[str]) -> None:
        """Start pre-starting Jupyter kernels and pre-building sandboxes for these
        interpreters (needs a running loop)."""
        for interpreter in interpreters if self.pool is not None else ():
            assert self.pool is not None
            self.pool.fill(interpreter)
        for interpreter in interpreters if self.sandboxes is not None else ():
            assert self.sandboxes is not None
            self.sandboxes.fill(interpreter)
