"""The node's pools: pre-started Jupyter kernels and pre-built sandboxes (see
:mod:`hangar.agent.kernels.pool`), how a new kernel adopts one, and when they refill."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Sequence
from pathlib import Path

from hangar.agent.kernels.pool import KernelPool, Pooled, fits, fits_sandbox
from hangar.agent.models import KernelRequest
from hangar.agent.node_state import IDLE_GAP, IDLE_WAIT, POOL_QUIET_WAIT, NodeState, _Kernel
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

    def _pool_spec(self, pool_id: str, interpreter: str) -> tuple[KernelSpec, Path]:
        """The spec of a pooled kernel: a default request's, under the pool id."""
        request = KernelRequest(uuid.uuid4(), "pool", interpreter=interpreter)
        spec = build_spec(
            request, scratch_root=self.scratch_root, uid=self.uid, gid=self.gid,
            devices=(), pids_max=self.limits.pids_max,
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
        """A pre-built sandbox, adopted as this kernel, where one fits."""
        if self.sandboxes is None or not fits_sandbox(kernel.request):
            return None
        shim = shim_dir(self.scratch_root, kernel.spec.kernel_id)
        return await self.sandboxes.adopt(kernel.request.interpreter, kernel.spec, shim)

    def warm_pool(self, interpreters: Sequence[str]) -> None:
        """Start pre-starting Jupyter kernels and pre-building sandboxes for these
        interpreters (needs a running loop)."""
        for interpreter in interpreters if self.pool is not None else ():
            assert self.pool is not None
            self.pool.fill(interpreter)
        for interpreter in interpreters if self.sandboxes is not None else ():
            assert self.sandboxes is not None
            self.sandboxes.fill(interpreter)
