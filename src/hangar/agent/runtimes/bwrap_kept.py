"""Processes of the bubblewrap runtime's kernels that outlive the agent (see
:mod:`.detached`): starting them, finding them again after a restart, letting go of them."""

from __future__ import annotations

from hangar.agent.errors import KernelNotFound
from hangar.agent.runtimes.base import (
    KernelInfo,
    KernelSpec,
    RunningProcess,
    SandboxCommand,
)
from hangar.agent.runtimes.bwrap_state import BwrapState, _classifier, _Kernel
from hangar.agent.runtimes.detached import (
    KeptProcess,
    alive_pid,
    kill_supervised,
    start_kept,
)
from hangar.agent.runtimes.process import (
    Classifier,
)


class KeptProcesses(BwrapState):
    """Part of :class:`~hangar.agent.runtimes.bubblewrap.BubblewrapRuntime`: kept processes."""

    async def _run_kept(
        self,
        kernel: _Kernel,
        keep: str,
        command: SandboxCommand,
        classify: Classifier,
        stdin: bytes | None,
        timeout: float | None,  # noqa: ASYNC109 - the process's limit
    ) -> RunningProcess:
        """Start a process that outlives the agent (see :mod:`.detached`)."""
        argv = list(command.argv)
        at = argv.index(self.options.bwrap) + 1
        if argv[at : at + 1] == ["--die-with-parent"]:
            del argv[at]
        files = self._kept(kernel.spec.kernel_id, keep)
        pid = await start_kept(files, argv, env=command.env, shell=self.config.shell, stdin=stdin)
        handle = KeptProcess(
            files, pid, classify=classify, terminate=lambda: kill_supervised(pid),
            timeout=timeout, on_exit=kernel.processes.discard,
        )  # fmt: skip
        kernel.processes.add(handle)
        return handle

    async def recover(self, spec: KernelSpec) -> KernelInfo:
        if spec.kernel_id in self._kernels:
            return self._kernels[spec.kernel_id].info
        if not spec.scratch_dir.is_dir():
            raise KernelNotFound(f"kernel {spec.kernel_id!r} left no scratch dir")
        cgroup = self.cgroups.cgroup_for(spec.kernel_id) if self.cgroups is not None else None
        if cgroup is not None and not cgroup.exists():
            raise KernelNotFound(f"kernel {spec.kernel_id!r} left no cgroup")
        info = KernelInfo(spec.kernel_id, spec.scratch_dir, self.limit_mode, self.notes)
        self._kernels[spec.kernel_id] = _Kernel(spec, info, self._options_for(spec), cgroup)
        return info

    async def reattach(self, kernel_id: str, keep: str) -> RunningProcess | None:
        kernel = self._get(kernel_id)
        files = self._kept(kernel_id, keep)
        if not files.record.exists():
            return None
        pid = alive_pid(files)
        handle = KeptProcess(
            files, pid, classify=_classifier(kernel, None),
            terminate=lambda: kill_supervised(pid) if pid is not None else None,
            on_exit=kernel.processes.discard,
        )  # fmt: skip
        if pid is not None:
            kernel.processes.add(handle)
        return handle

    def release(self) -> None:
        if self.waiters is not None:
            self.waiters.close()
        for kernel in self._kernels.values():
            for handle in list(kernel.processes):
                if isinstance(handle, KeptProcess):
                    handle.detach()
                    kernel.processes.discard(handle)
