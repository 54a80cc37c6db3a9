"""A runtime with the bubblewrap runtime's contract and none of its isolation.

Processes run directly on the host as the agent's user, in their own process group (killed
as a whole on timeout, kill, destroy and when the first process exits, as a PID namespace
would be). Differences a test may notice: ``HOME`` and the default cwd are the real scratch
dir (a cwd under /home/work is mapped into it), mounts under /home/work are symlinks (no
read-only enforcement, other targets are ignored), limits are not enforced
(``LimitMode.NONE``) and stats are approximate. For fast tests of code above the agent;
never for real users.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hangar.agent.errors import KernelCreationFailed, KernelNotFound
from hangar.agent.models import ContainerStats
from hangar.agent.runtimes.base import (
    HOME,
    ExitStatus,
    KernelInfo,
    KernelRuntime,
    KernelSpec,
    LimitMode,
    RunningProcess,
    SandboxCommand,
    StdinSource,
    TerminationReason,
)
from hangar.agent.runtimes.process import ProcessHandle, RusageMeter, exit_status, spawn
from hangar.agent.runtimes.sandbox import sandbox_env
from hangar.agent.runtimes.scratch import prepare_scratch, remove_tree, scratch_size

FAKE_NOTE = "fake runtime: no sandbox, limits are not enforced"


@dataclass
class _FakeKernel:
    spec: KernelSpec
    processes: set[ProcessHandle] = field(default_factory=set)
    meter: RusageMeter = field(default_factory=RusageMeter)
    scratch_max: int = 0


def _link_mounts(spec: KernelSpec) -> None:
    """Stand-in for bind mounts: symlinks in the scratch dir (no read-only enforcement)."""
    for mount in spec.mounts:
        if not mount.target.startswith(HOME + "/"):
            continue
        link = spec.scratch_dir / mount.target[len(HOME) + 1 :]
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(mount.host_path)


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class FakeRuntime(KernelRuntime):
    """Runs kernel processes unsandboxed; see the module docstring for the differences."""

    name = "fake"

    def __init__(self) -> None:
        self._kernels: dict[str, _FakeKernel] = {}

    def _get(self, kernel_id: str) -> _FakeKernel:
        try:
            return self._kernels[kernel_id]
        except KeyError:
            raise KernelNotFound(f"no kernel {kernel_id!r} on this runtime") from None

    async def create(self, spec: KernelSpec) -> KernelInfo:
        if spec.kernel_id in self._kernels:
            raise KernelCreationFailed(f"kernel {spec.kernel_id!r} already exists")
        try:
            await asyncio.to_thread(prepare_scratch, spec.scratch_dir, None)
            await asyncio.to_thread(_link_mounts, spec)
        except OSError as exc:
            raise KernelCreationFailed(f"cannot prepare kernel {spec.kernel_id!r}: {exc}") from exc
        self._kernels[spec.kernel_id] = _FakeKernel(spec)
        if spec.image.bootstrap:
            handle = await self.run(spec.kernel_id, ["/bin/sh", "-c", spec.image.bootstrap])
            out, err, status = await handle.communicate()
            if status.exit_code != 0:
                await self.destroy(spec.kernel_id, remove_scratch=False)
                tail = (err or out).decode(errors="replace")[-2000:]
                raise KernelCreationFailed(f"bootstrap script failed: {status.message}\n{tail}")
        return KernelInfo(spec.kernel_id, spec.scratch_dir, LimitMode.NONE, (FAKE_NOTE,))

    async def recover(self, spec: KernelSpec) -> KernelInfo:
        """A kernel of an earlier agent: its scratch dir (the fake's processes never outlive
        their agent, so :meth:`reattach` finds none)."""
        if spec.kernel_id not in self._kernels:
            if not spec.scratch_dir.is_dir():
                raise KernelNotFound(f"kernel {spec.kernel_id!r} left no scratch dir")
            self._kernels[spec.kernel_id] = _FakeKernel(spec)
        return KernelInfo(spec.kernel_id, spec.scratch_dir, LimitMode.NONE, (FAKE_NOTE,))

    def _cwd(self, kernel: _FakeKernel, cwd: str | None) -> str:
        scratch = str(kernel.spec.scratch_dir)
        if cwd is None or cwd == HOME:
            return scratch
        if cwd.startswith(HOME + "/"):
            return scratch + cwd[len(HOME) :]
        return cwd

    def command(
        self,
        kernel_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> SandboxCommand:
        kernel = self._get(kernel_id)
        full_env = sandbox_env(kernel.spec, env)
        full_env["HOME"] = str(kernel.spec.scratch_dir)
        return SandboxCommand(tuple(argv), full_env)

    async def run(
        self,
        kernel_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: StdinSource = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the process's limit, not the call's
        keep: str | None = None,  # the fake's processes are the agent's children: not kept
    ) -> RunningProcess:
        kernel = self._get(kernel_id)
        command = self.command(kernel_id, argv, env=env)
        before = RusageMeter.snapshot()
        spawned = await spawn(
            command.argv, env=command.env, cwd=self._cwd(kernel, cwd), stdin_pipe=stdin is not None
        )

        def classify(code: int, forced: TerminationReason | None) -> ExitStatus:
            kernel.meter.add(before)
            return exit_status(code, forced, timeout=timeout)

        def finished(handle: ProcessHandle) -> None:
            _killpg(spawned.process.pid)
            kernel.processes.discard(handle)

        handle = ProcessHandle(
            spawned,
            classify=classify,
            terminate=lambda: _killpg(spawned.process.pid),
            timeout=timeout,
            stdin_data=stdin if isinstance(stdin, bytes) else None,
            on_exit=finished,
        )
        kernel.processes.add(handle)
        return handle

    async def stats(self, kernel_id: str) -> ContainerStats:
        kernel = self._get(kernel_id)
        size = await asyncio.to_thread(scratch_size, kernel.spec.scratch_dir)
        kernel.scratch_max = max(kernel.scratch_max, size)
        return ContainerStats(
            cpu_used=int(kernel.meter.cpu_seconds * 1000),
            mem_max_bytes=kernel.meter.max_rss_bytes,
            io_max_scratch_size=kernel.scratch_max,
            io_cur_scratch_size=size,
        )

    def release(self) -> None:
        """The agent is going away: the fake's processes are its children and are never
        taken over (:meth:`recover` finds none), so they end with it instead of running on
        unwatched (Jupyter kernels included); the scratch dirs stay."""
        for kernel in self._kernels.values():
            for handle in list(kernel.processes):
                handle.kill()

    async def destroy(self, kernel_id: str, *, remove_scratch: bool) -> None:
        kernel = self._kernels.pop(kernel_id, None)
        if kernel is None:
            return
        handles = list(kernel.processes)
        for handle in handles:
            handle.kill()
        await asyncio.gather(*(handle.wait() for handle in handles))
        if remove_scratch:
            await asyncio.to_thread(remove_tree, kernel.spec.scratch_dir)
