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
import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hangar.agent import files as home_files
from hangar.agent.batch import BatchRunner, Resume, RunSlot, plan
from hangar.agent.console import DEFAULT_MAX_BYTES, ConsoleLog
from hangar.agent.describe import node_info
from hangar.agent.errors import AgentError, KernelCreationFailed, KernelNotFound
from hangar.agent.images.node_images import IMAGE_STORE_DIR, NodeImages
from hangar.agent.images.runner import query_refusal
from hangar.agent.interrupts import interrupt_group
from hangar.agent.kernels.jupyter import QueryKernelFailed
from hangar.agent.kernels.pool import KernelPool, Pooled, environ_code, fits, fits_sandbox
from hangar.agent.kernels.runner import QueryKernels
from hangar.agent.models import (
    BatchSteps,
    ContainerStats,
    FileEntry,
    ImagePull,
    KernelRequest,
    NodeInfo,
    NodeUsage,
    RunOutput,
)
from hangar.agent.node_errors import (
    FileTooLarge,
    KernelExists,
    KernelStartFailed,
    NodeError,
    UnknownKernel,
)
from hangar.agent.records import KernelRecords, RunRecord
from hangar.agent.resources.inventory import AgentInventory, detect
from hangar.agent.resources.usage import HostUsage
from hangar.agent.runtimes.base import (
    KernelRuntime,
    KernelSpec,
    TerminationReason,
)
from hangar.agent.runtimes.rootfs import kernel_shell
from hangar.agent.runtimes.scratch import remove_tree
from hangar.agent.services import ServiceManager
from hangar.agent.services.pty import PtyClient
from hangar.agent.services.streams import ProcessStream, SocketStream
from hangar.agent.specs import (
    build_spec,
    is_python_image,
    prepare_shim,
    remove_shim,
    shim_dir,
)

log = logging.getLogger("hangar.agent")
BOOTSTRAP_FILE = "bootstrap.sh"
SERVICES_DIR = ".hangar-services"
POOL_QUIET_WAIT = 2.0  # longest a pool refill waits for the node to be idle
# A Jupyter kernel's start costs ~0.6 s of CPU: a pool refill waits until no session came,
# ran or went for IDLE_GAP seconds (at most IDLE_WAIT), not to slow down a burst of them.
IDLE_GAP = 0.5
IDLE_WAIT = 10.0
# A destroyed kernel's removal starts this much later: the answer to the destroy (a status
# written, a response sent) goes first instead of sharing the CPU with it.
REMOVAL_DELAY = 0.05
RECORDS_DIR = ".hangar-kernels"


@dataclass(frozen=True, slots=True)
class NodeLimits:
    """Per-kernel defaults and file limits of a node."""

    pids_max: int = 512
    bootstrap_timeout: float = 300.0
    max_upload_bytes: int = 64 << 20
    max_download_bytes: int = 64 << 20
    console_max_bytes: int = DEFAULT_MAX_BYTES
    interrupt_grace: float = 2.0
    query_on_start: bool = False  # start an interactive Python kernel's Jupyter kernel
    query_start_timeout: float = 60.0
    query_pool_size: int = 0  # pre-started Jupyter kernels per interpreter (0: no pool)
    sandbox_pool_size: int = 0  # pre-built bare sandboxes per interpreter (0: no pool)
    # With query_on_start, how long a new kernel stays without a Jupyter kernel: a session
    # that runs one short command and goes (``backend.ai run``) never pays for one.
    query_start_delay: float = 0.5


@dataclass
class _Kernel:
    request: KernelRequest
    spec: KernelSpec
    console: ConsoleLog
    python: bool
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    run: RunSlot | None = None
    pooled: Pooled | None = None  # the pre-started Jupyter kernel it was made from
    left: tuple[BatchSteps, Resume] | None = None  # a kept run's step nobody follows now


def _writes_as_work_user(runtime: KernelRuntime) -> bool:
    """Whether files the node writes must be chowned to the work user: where the runtime
    says it runs privileged (no user namespace), else when the node runs as root."""
    privileged = getattr(getattr(runtime, "options", None), "privileged", None)
    return privileged if isinstance(privileged, bool) else os.geteuid() == 0


class Node:
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
        self.host_usage = HostUsage()
        self.images = NodeImages(scratch_root / IMAGE_STORE_DIR, owner=self._owner)

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

    def _get(self, kernel_id: uuid.UUID) -> _Kernel:
        try:
            return self._kernels[str(kernel_id)]
        except KeyError:
            raise UnknownKernel(f"No such kernel: {kernel_id}") from None

    def _log_path(self, key: str) -> Path:
        return self.log_dir / f"{key}.log"

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
            self._prepare_query_later(key, request.interpreter)

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

    def _active(self) -> None:
        """Note session activity (a kernel starting, running a command, going)."""
        self._active_at = asyncio.get_running_loop().time()

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

    async def _bootstrap(self, kernel: _Kernel, script: str) -> None:
        """Write the script to /home/work/bootstrap.sh and run it with bash."""
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
            ["/bin/bash", BOOTSTRAP_FILE],
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
            self.query.prepare(key, kernel.request.interpreter)

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

    async def interrupt(self, kernel_id: uuid.UUID) -> None:
        """SIGINT the active step (its sandboxed processes, see :mod:`.interrupts`) and end
        the run; kill the step if it still runs after ``interrupt_grace`` seconds. No error
        when idle. Raises UnknownKernel."""
        kernel = self._get(kernel_id)
        if self.query.interrupt(kernel.spec.kernel_id):
            return
        slot = kernel.run
        if slot is None:
            return
        slot.stopping = True
        process = slot.process
        if process is None or slot.interrupter is not None:
            return
        interrupt_group(process.pid)  # a /proc scan: quick, and no await before the guard

        async def escalate() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), self.limits.interrupt_grace)
                return
            process.kill()

        slot.interrupter = asyncio.create_task(escalate())

    async def stats(self, kernel_id: uuid.UUID) -> ContainerStats:
        """Usage so far. Raises UnknownKernel."""
        kernel = self._get(kernel_id)
        try:
            return await self.runtime.stats(kernel.spec.kernel_id)
        except KernelNotFound as exc:
            raise UnknownKernel(f"No such kernel: {kernel_id}") from exc

    async def logs(self, kernel_id: uuid.UUID) -> str:
        """The console log (bootstrap, batch and query output, its last ~1 MiB), also after the
        kernel is gone. Raises UnknownKernel when there never was one."""
        key = str(kernel_id)
        kernel = self._kernels.get(key)
        console = kernel.console if kernel is not None else ConsoleLog(self._log_path(key))
        if kernel is None and not await asyncio.to_thread(console.exists):
            raise UnknownKernel(f"No such kernel: {kernel_id}")
        return await asyncio.to_thread(console.read)

    # -- batch runs ----------------------------------------------------------------------

    async def run_batch(
        self, kernel_id: uuid.UUID, steps: BatchSteps
    ) -> AsyncGenerator[RunOutput, None]:
        """Run clean -> build -> exec in /home/work (see :mod:`hangar.agent.batch`); yields
        stdout/stderr chunks as they arrive, ``clean-finished``/``build-finished`` after
        steps that ran, and ends with ``finished`` or ``exec-timeout``. Runs of one kernel
        are serialised. Close the iterator (``aclosing``) when stopping early: that kills the
        step. Raises UnknownKernel (also when destroyed while waiting), NodeError."""
        kernel = self._get(kernel_id)
        async with kernel.lock:
            if self._kernels.get(kernel.spec.kernel_id) is not kernel:
                raise UnknownKernel(f"No such kernel: {kernel_id}")
            slot = kernel.run = RunSlot()
            self._active()
            runner = self._runner(kernel, slot, steps)
            resume = await self._resumed(kernel, steps)
            try:
                async with contextlib.aclosing(
                    runner.run(plan(steps, python=kernel.python), steps.timeout, resume)
                ) as records:
                    async for record in records:
                        yield record
            except KernelNotFound as exc:
                raise UnknownKernel(f"No such kernel: {kernel_id}") from exc
            finally:
                kernel.run = None
                kernel.left = (steps, runner.left) if runner.left is not None else None
                self._active()

    def _runner(self, kernel: _Kernel, slot: RunSlot, steps: BatchSteps) -> BatchRunner:
        """A batch session's steps outlive the node; an interactive session's runs do not."""
        key = kernel.spec.kernel_id

        async def keep(index: int) -> None:
            await asyncio.to_thread(self.records.save_run, key, RunRecord(steps, index))

        kept = None if kernel.request.interactive else keep
        shell = kernel_shell(kernel.spec)  # an image without bash: sh, or Hangar's
        return BatchRunner(self.runtime, key, slot, kernel.console.record, keep=kept, shell=shell)

    async def _resumed(self, kernel: _Kernel, steps: BatchSteps) -> Resume | None:
        """The step left running by an earlier consumer of the same run (or an earlier node),
        to be followed; one of another run is killed first."""
        left, kernel.left = kernel.left, None
        if left is None:
            return None
        if left[0] == steps:
            return left[1]
        left[1][1].kill()
        await left[1][1].wait()
        return None

    # -- query runs ----------------------------------------------------------------------

    def _python(self, kernel_id: uuid.UUID) -> _Kernel:
        kernel = self._get(kernel_id)
        if not kernel.python:
            raise QueryKernelFailed("Query mode needs a Python image; use batch mode.")
        refused = query_refusal(kernel.spec.image.rootfs)  # an image's Python may not run it
        if refused is not None:
            raise QueryKernelFailed(refused)
        return kernel

    async def run_query(
        self,
        kernel_id: uuid.UUID,
        code: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the cell's limit
    ) -> AsyncGenerator[RunOutput, None]:
        """Run ``code`` in the kernel's Jupyter kernel (global state kept between cells);
        yields console records, ``waiting-input`` when it reads stdin (answer with
        :meth:`send_input`), and ends with ``finished`` or ``exec-timeout``. Runs of one
        kernel are serialised with batch runs; their console text also goes to the console
        log. Raises UnknownKernel, QueryKernelFailed."""
        kernel = self._python(kernel_id)
        async with kernel.lock:
            if self._kernels.get(kernel.spec.kernel_id) is not kernel:
                raise UnknownKernel(f"No such kernel: {kernel_id}")
            interpreter = kernel.request.interpreter
            self._active()
            async with contextlib.aclosing(
                self.query.execute(kernel.spec.kernel_id, interpreter, code, timeout)
            ) as records:
                async for record in records:
                    kernel.console.record(record)
                    yield record

    async def send_input(self, kernel_id: uuid.UUID, text: str) -> None:
        """Answer the running cell's ``input()`` (kept for the next one when none waits).
        Raises UnknownKernel."""
        self.query.send_input(self._get(kernel_id).spec.kernel_id, text)

    async def complete(
        self, kernel_id: uuid.UUID, code: str, options: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Completion candidates for ``code`` (also while a cell runs); [] for non-Python
        images. Raises UnknownKernel, QueryKernelFailed."""
        kernel = self._get(kernel_id)
        if not kernel.python:
            return []
        key, interpreter = kernel.spec.kernel_id, kernel.request.interpreter
        return await self.query.complete(key, interpreter, code, options)

    # -- service apps ------------------------------------------------------------------

    async def open_app(self, kernel_id: uuid.UUID, app: str) -> SocketStream | ProcessStream:
        """A new connection to the kernel's service ``app`` (see :mod:`hangar.agent.services`),
        started if needed. Raises UnknownKernel, UnknownApp, AppLaunchFailed."""
        kernel = self._get(kernel_id)
        try:
            return await self.services.open_app(kernel.spec.kernel_id, app)
        except KernelNotFound as exc:
            raise UnknownKernel(f"No such kernel: {kernel_id}") from exc

    async def connect_port(self, kernel_id: uuid.UUID, port: int) -> SocketStream:
        """A TCP connection to ``port`` of the kernel, made inside its network (the only way
        in: a session's ports are not reachable from the host). Raises UnknownKernel,
        UnknownApp (bad port), AppLaunchFailed (nothing listens there)."""
        kernel = self._get(kernel_id)
        try:
            return await self.services.open_port(kernel.spec.kernel_id, port)
        except KernelNotFound as exc:
            raise UnknownKernel(f"No such kernel: {kernel_id}") from exc

    async def open_terminal(self, kernel_id: uuid.UUID) -> PtyClient:
        """Attach to the kernel's shared shell on a pty. Raises UnknownKernel,
        AppLaunchFailed."""
        kernel = self._get(kernel_id)
        try:
            return await self.services.open_terminal(kernel.spec.kernel_id)
        except KernelNotFound as exc:
            raise UnknownKernel(f"No such kernel: {kernel_id}") from exc

    # -- files -------------------------------------------------------------------------

    async def upload(self, kernel_id: uuid.UUID, files: Sequence[tuple[str, bytes]]) -> None:
        """Write each (path, data) under /home/work: parents created, files overwritten,
        owned by the work user. Every path and size is checked before anything is written.
        Raises UnknownKernel, PathEscapes, FileTooLarge, FileError."""
        scratch = self._get(kernel_id).spec.scratch_dir
        for path, data in files:
            home_files.parse_path(path)
            if len(data) > self.limits.max_upload_bytes:
                raise FileTooLarge("Too large file")
        for path, data in files:
            await asyncio.to_thread(
                home_files.write_file,
                scratch,
                path,
                data,
                owner=self._owner,
                max_bytes=self.limits.max_upload_bytes,
            )

    async def download(self, kernel_id: uuid.UUID, paths: Sequence[str]) -> list[bytes]:
        """One uncompressed tar per path, holding it under its basename (directories
        recursively). Raises UnknownKernel, PathEscapes, FileMissing, FileTooLarge."""
        scratch = self._get(kernel_id).spec.scratch_dir
        limit = self.limits.max_download_bytes
        return [
            await asyncio.to_thread(home_files.archive, scratch, path, max_bytes=limit)
            for path in paths
        ]

    async def list_files(self, kernel_id: uuid.UUID, path: str) -> tuple[str, list[FileEntry]]:
        """(absolute path in the sandbox, its entries), not recursive. Raises UnknownKernel,
        PathEscapes, FileMissing, NotADirectory."""
        scratch = self._get(kernel_id).spec.scratch_dir
        return await asyncio.to_thread(home_files.list_dir, scratch, path)

    async def output_files(self, kernel_id: uuid.UUID) -> list[str]:
        """Regular files under /home/work/.output (relative names, sorted; [] if none).
        Raises UnknownKernel."""
        scratch = self._get(kernel_id).spec.scratch_dir
        # the usual case, no such directory, costs one lstat: not worth a thread hop
        if not os.path.lexists(scratch / home_files.OUTPUT_DIR):  # noqa: ASYNC240
            return []
        return await asyncio.to_thread(home_files.output_names, scratch)


__all__ = ["Node", "NodeError", "NodeLimits"]
