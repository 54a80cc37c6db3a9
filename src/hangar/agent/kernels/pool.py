"""Pre-started sandboxed Jupyter kernels, so a new session's first cell need not wait ~0.6 s
for ipykernel to import.

A pooled kernel is a whole runtime kernel (scratch dir, limits, sandbox) named ``pool-<hex>``
with ipykernel already running in it. A new session whose sandbox would look the same from
inside (host interpreter, no vfolder mounts, GPUs, dotfiles or bootstrap script) takes one:
the runtime *adopts* it under the session's id (its scratch dir and shim are renamed, its
processes move to the session's limits) and the session's environment is set in the
running interpreter. Taken kernels are replaced in the background, after a short delay so
the refill does not compete with the new session's first cells.

A pool made with ``query=False`` holds pre-built sandboxes without a Jupyter kernel: whatever
the runtime's ``create`` makes (scratch dir, limits, network namespace, disk) is ready, so a
session that takes one (any session that :func:`fits_sandbox`, batch ones too) skips that
work, and its first command runs in a sandbox the runtime has already set up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hangar.agent.errors import AgentError
from hangar.agent.kernels.jupyter import QueryKernel
from hangar.agent.models import KernelRequest
from hangar.agent.runtimes.base import KernelRuntime, KernelSpec
from hangar.agent.runtimes.scratch import remove_tree
from hangar.agent.specs import prepare_shim

log = logging.getLogger("hangar.agent.kernels")
POOL_PREFIX = "pool-"

# (pool kernel id, key) -> (spec, shim dir) of a pooled kernel; nothing is created
SpecFactory = Callable[[str, str], tuple[KernelSpec, Path]]
# A pool's key is an interpreter, or an interpreter, KEY_SEP and what else sets its kernels
# apart (a container image's name): see :func:`pool_key`.
KEY_SEP = "\n"


def pool_key(interpreter: str, variant: str | None = None) -> str:
    """The pool key of kernels of ``interpreter`` (and ``variant``, e.g. an image)."""
    return interpreter if variant is None else f"{interpreter}{KEY_SEP}{variant}"


def key_interpreter(key: str) -> str:
    """The interpreter of pool key ``key``."""
    return key.split(KEY_SEP, 1)[0]


class PoolFiles(Protocol):
    """Files the node keeps per kernel besides the runtime's (its service directories)."""

    def prepare_pooled(self, spec: KernelSpec) -> None:
        """Make them for a pooled kernel, after its sandbox's; blocking. Raises OSError."""

    def remove_files(self, kernel_id: str) -> None:
        """Delete them; blocking. Raises OSError."""


@dataclass
class Pooled:
    kernel_id: str
    spec: KernelSpec
    shim: Path
    kernel: QueryKernel | None  # None in a pool of bare sandboxes


class KernelPool:
    """Up to ``size`` ready kernels per interpreter. Not safe across event loops."""

    def __init__(
        self,
        runtime: KernelRuntime,
        make_spec: SpecFactory,
        *,
        size: int = 1,
        refill_delay: float = 1.0,
        start_timeout: float = 60.0,
        query: bool = True,
        quiet: Callable[[], Awaitable[None]] | None = None,
        files: PoolFiles | None = None,
    ) -> None:
        """``query``: start a Jupyter kernel in each pooled sandbox (else bare sandboxes);
        ``quiet``: awaited before each start, so it waits for a moment the node is not busy;
        ``files``: the node's own files of a pooled kernel. Each pooled kernel keeps a
        sandbox built ahead of its first run (``KernelRuntime.prestart``), which the kernel
        that adopts it takes along."""
        self.runtime, self.make_spec, self.size = runtime, make_spec, size
        self.refill_delay, self.start_timeout = refill_delay, start_timeout
        self.query, self.quiet, self.files = query, quiet, files
        self._ready: dict[str, list[Pooled]] = {}
        self._filling: dict[str, int] = {}
        self._forgotten: set[str] = set()  # keys whose kernels in the making are not kept
        self._tasks: set[asyncio.Task[None]] = set()
        self._keyed: dict[str, set[asyncio.Task[None]]] = {}  # starts and ends per key
        self._closed = False

    def fill(self, interpreter: str, delay: float = 0.0) -> None:
        """Start kernels in the background until ``size`` are ready or starting.
        ``interpreter`` is the pool's key: the make_spec factory says what it means."""
        if self._closed or self.size <= 0:
            return
        self._forgotten.discard(interpreter)
        missing = (
            self.size - len(self._ready.get(interpreter, [])) - self._filling.get(interpreter, 0)
        )
        for _ in range(max(0, missing)):
            self._filling[interpreter] = self._filling.get(interpreter, 0) + 1
            self._track(interpreter, asyncio.create_task(self._start(interpreter, delay)))

    def _track(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        self._keyed.setdefault(key, set()).add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._keyed[key].discard)

    async def _start(self, interpreter: str, delay: float) -> None:
        kernel_id = POOL_PREFIX + secrets.token_hex(8)
        shim: Path | None = None
        try:
            await asyncio.sleep(delay)
            if self.quiet is not None:
                await self.quiet()
            spec, shim = self.make_spec(kernel_id, interpreter)
            await asyncio.to_thread(prepare_shim, shim, key_interpreter(interpreter))
            await _whole(self.runtime.create(spec))
            if self.files is not None:
                await asyncio.to_thread(self.files.prepare_pooled, spec)
            self.runtime.prestart(kernel_id)
            kernel = (
                await QueryKernel.start(
                    self.runtime,
                    kernel_id,
                    key_interpreter(interpreter),
                    timeout=self.start_timeout,
                )  # fmt: skip
                if self.query
                else None
            )
        except BaseException as exc:
            await self._destroy(kernel_id, shim)
            if isinstance(exc, AgentError | OSError):
                what = "pre-start a Jupyter kernel" if self.query else "pre-build a sandbox"
                log.warning("could not %s: %s", what, exc)
                return
            raise
        finally:
            self._filling[interpreter] -= 1
        if self._closed or interpreter in self._forgotten:
            if kernel is not None:
                await kernel.close()
            await self._destroy(kernel_id, shim)
            return
        self._ready.setdefault(interpreter, []).append(Pooled(kernel_id, spec, shim, kernel))

    def take(self, interpreter: str) -> Pooled | None:
        """A ready kernel for ``interpreter`` (removed from the pool), or None. A refill
        starts after ``refill_delay``."""
        ready = self._ready.get(interpreter, [])
        while ready:
            pooled = ready.pop(0)
            if pooled.kernel is None or not pooled.kernel.broken:
                self.fill(interpreter, self.refill_delay)
                return pooled
            self._spawn_destroy(pooled, interpreter)
        self.fill(interpreter, self.refill_delay)
        return None

    async def adopt(self, interpreter: str, spec: KernelSpec, shim: Path) -> Pooled | None:
        """Take a ready kernel and have the runtime adopt it as ``spec`` (its shim moved to
        ``shim``); None when none is ready or adoption failed (that kernel is destroyed)."""
        pooled = self.take(interpreter)
        if pooled is None:
            return None
        try:
            await self.runtime.settle(pooled.kernel_id)  # its paths move next
            pooled.shim.rename(shim)  # one quick call: not worth a thread hop
            pooled.shim = shim
            await self.runtime.adopt(pooled.kernel_id, spec)
        except (AgentError, OSError) as exc:
            log.warning("could not use a pre-started Jupyter kernel: %s", exc)
            self.give_back(pooled)
            return None
        return pooled

    def ready_keys(self) -> list[str]:
        """The keys that have kernels ready."""
        return [key for key, ready in self._ready.items() if ready]

    def forget(self, interpreter: str) -> None:
        """Destroy the ready kernels of ``interpreter`` (in the background) and those being
        started for it once they are, until it is filled again."""
        self._forgotten.add(interpreter)
        for pooled in self._ready.pop(interpreter, []):
            self._spawn_destroy(pooled, interpreter)

    async def release(self, key: str) -> None:
        """Forget ``key`` (see :meth:`forget`) and wait until its kernels are destroyed,
        those being started too: nothing of the pool holds what they held (an image's
        overlay) any more."""
        self.forget(key)
        while pending := self._keyed.get(key):
            await asyncio.wait(set(pending))
        if not self._keyed.get(key, True):
            del self._keyed[key]

    def give_back(self, pooled: Pooled) -> None:
        """Destroy a taken kernel that could not be adopted."""
        self._spawn_destroy(pooled)

    def _spawn_destroy(self, pooled: Pooled, key: str = "") -> None:
        async def destroy() -> None:
            if pooled.kernel is not None:
                await pooled.kernel.close()
            await self._destroy(pooled.kernel_id, pooled.shim)

        self._track(key, asyncio.create_task(destroy()))

    async def _destroy(self, kernel_id: str, shim: Path | None) -> None:
        with contextlib.suppress(AgentError, OSError):
            await self.runtime.destroy(kernel_id, remove_scratch=True)
        if self.files is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.files.remove_files, kernel_id)
        if shim is not None:
            await asyncio.to_thread(remove_tree, shim)

    async def close(self) -> None:
        """Stop every pooled kernel and pending start. Idempotent."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        ready, self._ready = self._ready, {}
        for pooled_list in ready.values():
            for pooled in pooled_list:
                if pooled.kernel is not None:
                    await pooled.kernel.close()
                await self._destroy(pooled.kernel_id, pooled.shim)


async def _whole(step: Awaitable[object]) -> None:
    """Await ``step``; when cancelled, let it finish first (its threads would go on making
    what the caller's cleanup removes, e.g. mount an image's overlay after the unmount)."""
    task = asyncio.ensure_future(step)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


def environ_code(environ: Mapping[str, str]) -> str:
    """Python that sets ``environ`` in a running kernel (PATH excepted: the pooled sandbox's
    own PATH names the paths that exist inside it)."""
    values = {k: v for k, v in environ.items() if k != "PATH"}
    return f"import os as _os\n_os.environ.update({values!r})\ndel _os\n"


def fits_sandbox(request: KernelRequest) -> bool:
    """Whether a pre-built bare sandbox can become the kernel ``request`` asks for: the host
    interpreter or a container image (its overlay is mounted by the adoption), no folder
    mounts (their mount points are made by ``create``), no GPUs. Dotfiles and the bootstrap
    script are written and run afterwards, as for any kernel."""
    return (
        request.interpreter_prefix is None
        and not request.mounts
        and not request.gpu_devices
        and not any(request.gpu_shares.values())
    )


def fits(request: KernelRequest) -> bool:
    """Whether a pooled kernel's sandbox looks, from inside, like the one ``request`` asks
    for: the host interpreter and nothing bound or written in before the kernel starts."""
    return (
        request.interpreter_prefix is None
        and request.image is None
        and not request.mounts
        and not request.files
        and not request.bootstrap_script
        and not request.gpu_devices
        and not any(request.gpu_shares.values())
    )
