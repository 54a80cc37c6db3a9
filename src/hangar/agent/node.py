"""The node: the agent's face towards the core, on top of one :class:`KernelRuntime`.

It keeps per-kernel state the runtime does not: the request, the console log
(``<log_dir>/<kernel_id>.log``), the active batch run (one at a time; a second waits) and
the file operations on /home/work. Kernel ids are UUIDs; the runtime sees ``str(id)`` and
the scratch dir ``<scratch_root>/<id>``. It speaks the agent's wire contract
(:mod:`hangar.agent.models`), which the core uses as is; errors are
:class:`~hangar.agent.node_errors.NodeError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hangar.agent import files as home_files
from hangar.agent.console import ConsoleLog
from hangar.agent.describe import node_info
from hangar.agent.errors import AgentError, KernelCreationFailed
from hangar.agent.images.node_images import IMAGE_STORE_DIR, NodeImages
from hangar.agent.images.runner import query_python, query_refusal
from hangar.agent.kernels.pool import KernelPool, environ_code
from hangar.agent.kernels.runner import QueryKernels
from hangar.agent.models import ContainerStats, ImagePull, KernelRequest, NodeInfo, NodeUsage
from hangar.agent.node_access import NodeAccess
from hangar.agent.node_errors import KernelExists, KernelStartFailed, NodeError
from hangar.agent.node_pools import NodePools
from hangar.agent.node_runs import NodeRuns
from hangar.agent.node_state import (
    BOOTSTRAP_FILE,
    IDLE_GAP,
    IDLE_WAIT,
    POOL_QUIET_WAIT,
    RECORDS_DIR,
    REMOVAL_DELAY,
    SERVICES_DIR,
    NodeLimits,
    _Kernel,
    _writes_as_work_user,
)
from hangar.agent.records import KernelRecords
from hangar.agent.resources.inventory import AgentInventory, detect
from hangar.agent.resources.usage import HostUsage
from hangar.agent.runtimes.base import KernelRuntime, TerminationReason
from hangar.agent.runtimes.rootfs import kernel_shell
from hangar.agent.runtimes.scratch import remove_tree
from hangar.agent.services import ServiceManager
from hangar.agent.specs import build_spec, is_python_image, prepare_shim, remove_shim, shim_dir

log = logging.getLogger("hangar.agent")


class Node(NodePools, NodeRuns, NodeAccess):
    """Runs kernels on this host for the core. Every method is safe to call concurrently."""

    def __init__(
        self,
        runtime: KernelRuntime,
        *,
        scratch_root: Path,
        log_dir: Path,
        uid: int = 1000,
        gid: int = 1000,
        agent_id: str | None = None,
        addr: str = "",
        fake_accelerators: str | Sequence[Mapping[str, Any]] | None = None,
        use_nvml: bool = True,
        inventory: AgentInventory | None = None,
        limits: NodeLimits = NodeLimits(),
        own_files: bool | None = None,
    ) -> None:
        """``inventory`` replaces detection (tests); otherwise the host is probed now, with
        ``fake_accelerators`` replacing NVML. ``own_files`` makes files the node writes
        belong to ``uid``/``gid`` (default: when the runtime is privileged, or the node is
        root). Raises ValueError for a malformed fake accelerator list."""
        self.runtime, self.scratch_root, self.log_dir = runtime, scratch_root, log_dir
        self.uid, self.gid, self.addr, self.limits = uid, gid, addr, limits
        self.agent_id = agent_id or f"i-{socket.gethostname()}"
        self.inventory = inventory or detect(fake_accelerators=fake_accelerators, use_nvml=use_nvml)
        chown = own_files if own_files is not None else _writes_as_work_user(runtime)
        self._owner = (uid, gid) if chown else None
        self._kernels: dict[str, _Kernel] = {}
        self._starting: set[str] = set()
        self._removals: dict[str, asyncio.Task[None]] = {}  # destroyed, being cleaned up
        self._query_starts: dict[str, asyncio.TimerHandle] = {}
        self._active_at = float("-inf")  # loop time of the last kernel start, run or end
        self.records = KernelRecords(scratch_root / RECORDS_DIR)
        self.query = QueryKernels(
            runtime,
            start_timeout=limits.query_start_timeout,
            interrupt_grace=limits.interrupt_grace,
            records=self.records,
        )
        size = limits.query_pool_size
        self.services = ServiceManager(runtime, scratch_root / SERVICES_DIR, owner=self._owner)
        self.pool = (
            KernelPool(runtime, self._pool_spec, size=size, quiet=self._idle, files=self.services)
            if size > 0
            else None
        )
        self.sandboxes = self._sandbox_pool(limits.sandbox_pool_size)
        self._pooled_images = {}
        self.host_usage = HostUsage()
        self.images = NodeImages(
            scratch_root / IMAGE_STORE_DIR, owner=self._owner, release=self._release_image
        )

    # -- node --------------------------------------------------------------------------

    async def info(self) -> NodeInfo:
        """Capacity (``cpu``, ``mem``), devices, architecture, version and notes."""
        return node_info(self.agent_id, self.addr, self.inventory, self.runtime)

    async def usage(self) -> NodeUsage:
        """The host's CPU (per core) and memory use now. Raises NodeError without /proc."""
        try:
            return await self.host_usage.sample()
        except OSError as exc:
            raise NodeError(f"host usage unavailable: {exc}") from exc

    async def image_pull(self, reference: str) -> ImagePull | None:
        """How far this node's pull of ``reference`` is (None: it is not pulling it)."""
        return self.images.pull_status(reference)

    def kernel_ids(self) -> list[uuid.UUID]:
        """The ids of the live kernels."""
        return [uuid.UUID(key) for key in self._kernels]

    # -- lifecycle ---------------------------------------------------------------------

    async def create_kernel(self, request: KernelRequest) -> None:
        """Start the kernel and run its bootstrap script (output to the console log).

        Raises KernelExists, InvalidKernelRequest, or KernelStartFailed (nothing is left
        behind but the console log).
        """
        key = str(request.kernel_id)
        await self._removed(key)  # the same id, destroyed just before (a restart path)
        if key in self._kernels or key in self._starting:
            raise KernelExists(f"Kernel {key} already exists on this node")
        if request.image is not None:  # pulled unless the node has it
            await self.images.ensure(request.image)
        kernel = self._new_kernel(request)
        self._starting.add(key)
        self._active()
        try:
            await self._start(kernel)
        finally:
            self._starting.discard(key)
            self._active()
        self._kernels[key] = kernel
        if request.interactive:  # its runs are commands sent one by one: start them sooner
            self.runtime.prestart(key)
        if kernel.pooled is not None and kernel.pooled.kernel is not None:
            setup = environ_code(kernel.spec.environ)
            self.query.adopt(key, request.interpreter, kernel.pooled.kernel, setup)
        elif self._query_on_start(kernel):
            self._prepare_query_later(key, query_python(kernel.spec, request.interpreter))

    def _prepare_query_later(self, key: str, interpreter: str) -> None:
        """Start the kernel's Jupyter kernel after ``query_start_delay`` unless it is gone
        by then (a query sent earlier starts it at once)."""

        def start() -> None:
            self._query_starts.pop(key, None)
            if key in self._kernels:
                self.query.prepare(key, interpreter)

        loop = asyncio.get_running_loop()
        self._query_starts[key] = loop.call_later(self.limits.query_start_delay, start)

    def _new_kernel(self, request: KernelRequest) -> _Kernel:
        """The node's state of a kernel for ``request`` (nothing is started)."""
        spec = build_spec(
            request,
            scratch_root=self.scratch_root,
            uid=self.uid,
            gid=self.gid,
            devices=self.inventory.devices,
            pids_max=self.limits.pids_max,
            image=self.images.find(request.image),
        )
        spec = self.services.with_mounts(spec)
        console = ConsoleLog(self._log_path(str(request.kernel_id)), self.limits.console_max_bytes)
        return _Kernel(request, spec, console, is_python_image(request))

    async def _start(self, kernel: _Kernel) -> None:
        key = kernel.spec.kernel_id
        try:
            kernel.pooled = await self._adopt(kernel)
            if kernel.pooled is None:
                if kernel.request.interpreter_prefix is None:
                    await asyncio.to_thread(
                        prepare_shim, shim_dir(self.scratch_root, key), kernel.request.interpreter
                    )
                await self.runtime.create(kernel.spec)
            script = kernel.request.bootstrap_script
            await asyncio.to_thread(self._prepare_files, kernel, save=not script)
            self.services.recover(
                kernel.spec, interpreter=kernel.request.interpreter, python=kernel.python
            )
            if script:
                await self._bootstrap(kernel, script)
                await asyncio.to_thread(self.records.save_request, kernel.request)
        except BaseException as exc:
            await self._remove(key)
            if isinstance(exc, KernelStartFailed):
                raise
            if isinstance(exc, AgentError | OSError):
                raise KernelStartFailed(f"Cannot start kernel {key}: {exc}") from exc
            raise

    def _prepare_files(self, kernel: _Kernel, *, save: bool) -> None:
        """A new kernel's file work, in one go (one thread hop): an empty console log, its
        dotfiles, the service apps' files and, with ``save``, its record. Raises OSError."""
        kernel.console.reset()
        for item in kernel.request.files:
            home_files.write_file(
                kernel.spec.scratch_dir, item.path, item.data, owner=self._owner,
                max_bytes=self.limits.max_upload_bytes, mode=item.mode,
            )  # fmt: skip
        pooled = kernel.pooled.kernel_id if kernel.pooled is not None else None
        self.services.prepare_files(kernel.spec, adopted_from=pooled)
        if save:
            self.records.save_request(kernel.request)

    def _query_on_start(self, kernel: _Kernel) -> bool:
        """Whether the kernel's Jupyter kernel starts with it (batch sessions run commands
        only; a query sent to one still starts it then)."""
        wanted = kernel.python and kernel.request.interactive and self.limits.query_on_start
        return wanted and query_refusal(kernel.spec.image.rootfs) is None

    async def _bootstrap(self, kernel: _Kernel, script: str) -> None:
        """Write the script to /home/work/bootstrap.sh and run it with bash (in an image
        without bash, its sh)."""
        scratch = kernel.spec.scratch_dir
        await asyncio.to_thread(
            home_files.write_file,
            scratch,
            BOOTSTRAP_FILE,
            script.encode(),
            owner=self._owner,
            max_bytes=self.limits.max_upload_bytes,
        )
        process = await self.runtime.run(
            kernel.spec.kernel_id,
            [*kernel_shell(kernel.spec), BOOTSTRAP_FILE],  # an image's may be sh
            timeout=self.limits.bootstrap_timeout,
        )
        out, err, status = await process.communicate()
        text = out.decode(errors="replace") + err.decode(errors="replace")
        kernel.console.append(text)
        if status.exit_code != 0 or status.reason is not TerminationReason.EXITED:
            raise KernelStartFailed(f"Bootstrap script failed: {status.message}\n{text[-2000:]}")

    async def _remove(self, key: str) -> None:
        """Destroy whatever of kernel ``key`` exists: processes, limits, scratch, shim."""
        await self.query.discard(key)
        await self.services.remove(key)
        with contextlib.suppress(AgentError, OSError):
            await self.runtime.destroy(key, remove_scratch=True)
        await asyncio.to_thread(remove_tree, self.scratch_root / key)
        await asyncio.to_thread(remove_shim, shim_dir(self.scratch_root, key))
        await asyncio.to_thread(self.records.remove, key)

    def _stop_run(self, kernel: _Kernel) -> None:
        """Make the active run end after its current step, killing that step."""
        slot = kernel.run
        if slot is not None:
            slot.stopping = True
            if slot.process is not None:
                slot.process.kill()

    async def destroy_kernel(self, kernel_id: uuid.UUID) -> ContainerStats | None:
        """End the kernel: its active run is killed and its last stats are returned (None
        if it was not live or they could not be read) at once; its processes, limits, scratch
        dir and shim are removed right after, in the background (:meth:`settle` waits for
        that, and so does a new kernel of the same id; it starts ``REMOVAL_DELAY`` later, after
        the caller's answer). Idempotent; the console log is kept."""
        key = str(kernel_id)
        kernel = self._kernels.pop(key, None)
        stats: ContainerStats | None = None
        self._active()
        if kernel is not None:
            self._stop_run(kernel)
            with contextlib.suppress(AgentError, OSError):
                stats = await self.runtime.stats(key)
        if (query_start := self._query_starts.pop(key, None)) is not None:
            query_start.cancel()
        if key not in self._removals:
            task = asyncio.create_task(self._remove_logged(key))
            self._removals[key] = task
            task.add_done_callback(lambda _: self._removals.pop(key, None))
        return stats

    async def _remove_logged(self, key: str) -> None:
        try:
            await asyncio.sleep(REMOVAL_DELAY)
            await self._remove(key)
        except Exception:  # nobody awaits this task: say what was left behind
            log.exception("removing kernel %s left something behind", key)

    async def _removed(self, key: str) -> None:
        """Wait until the background removal of kernel ``key``, if any, is done."""
        task = self._removals.get(key)
        if task is not None:
            await asyncio.shield(task)

    async def settle(self) -> None:
        """Wait until every destroyed kernel is removed (processes, limits, files)."""
        while self._removals:
            await asyncio.gather(*map(asyncio.shield, list(self._removals.values())))

    async def shutdown(self) -> None:
        """Let go of every kernel, leaving its Jupyter kernel and a batch session's command
        running for the next node (:meth:`recover`); stop the pre-started kernels, service
        apps, terminals and interactive runs, which do not outlive this process."""
        await self.settle()
        for query_start in self._query_starts.values():
            query_start.cancel()
        self._query_starts.clear()
        kernels, self._kernels = self._kernels, {}
        if self.pool is not None:
            await self.pool.close()
        if self.sandboxes is not None:
            await self.sandboxes.close()
        for _, expiry in self._pooled_images.values():
            expiry.cancel()
        self._pooled_images.clear()
        await self.images.stop_gc()
        await self.query.release()
        for key, kernel in kernels.items():
            if kernel.request.interactive:
                self._stop_run(kernel)
            await self.services.stop(key)
        self.runtime.release()

    async def recover(self) -> list[uuid.UUID]:
        """Take over the kernels an earlier node on this host left running (see
        :mod:`hangar.agent.recovery`); returns their ids. Kernels whose processes ended are
        removed, with the reason in their console log; pre-started kernels' leftovers too."""
        from hangar.agent.recovery import recover_kernels

        await recover_kernels(self)
        return self.kernel_ids()

    async def restart_kernel(self, kernel_id: uuid.UUID) -> None:
        """Kill the kernel's processes and start it again with the same spec, keeping
        /home/work (the bootstrap script is not run again). Raises UnknownKernel,
        KernelStartFailed (the kernel is then gone but its scratch dir kept)."""
        kernel = self._get(kernel_id)
        key = kernel.spec.kernel_id
        self._stop_run(kernel)
        kernel.left = None
        await self.services.stop(key)
        await self.query.discard(key)
        await self.runtime.destroy(key, remove_scratch=False)
        try:
            await self.runtime.create(kernel.spec)
        except (KernelCreationFailed, OSError) as exc:
            self._kernels.pop(key, None)
            raise KernelStartFailed(f"Cannot restart kernel {key}: {exc}") from exc
        if kernel.request.interactive:
            self.runtime.prestart(key)
        if self._query_on_start(kernel):
            self.query.prepare(key, query_python(kernel.spec, kernel.request.interpreter))

    async def suspend_kernel(self, kernel_id: uuid.UUID) -> None:
        """Stop the kernel's processes and let go of it, keeping its scratch dir (and disk):
        a kernel of the same id created later finds /home/work as it was. Raises
        UnknownKernel."""
        key = self._get(kernel_id).spec.kernel_id
        self._stop_run(self._kernels.pop(key))
        if (query_start := self._query_starts.pop(key, None)) is not None:
            query_start.cancel()
        await self.query.discard(key)
        await self.services.remove(key)
        await self.runtime.destroy(key, remove_scratch=False)
        await asyncio.to_thread(remove_shim, shim_dir(self.scratch_root, key))
        await asyncio.to_thread(self.records.remove, key)


__all__ = [
    "BOOTSTRAP_FILE",
    "IDLE_GAP",
    "IDLE_WAIT",
    "POOL_QUIET_WAIT",
    "RECORDS_DIR",
    "REMOVAL_DELAY",
    "SERVICES_DIR",
    "Node",
    "NodeError",
    "NodeLimits",
    "_Kernel",
]
