"""The local runtime: each kernel is a bubblewrap sandbox with cgroup (or rlimit) limits.

Isolation per sandbox: read-only host root; ``/home/work`` is the kernel's scratch dir;
private ``/tmp`` and ``/dev/shm``; ``/home``, ``/root``, the data dir and the scratch root
hidden; own PID, IPC and cgroup namespaces (optionally network); the work user without
capabilities and with ``no_new_privs``; a seccomp filter denying ptrace, new namespaces,
mounts and the other calls of ``seccomp.DEFAULT_BLOCKED``. As root, bwrap runs
privileged and ``setpriv`` drops to the work uid; as another user, a user namespace maps the
agent's uid to the work uid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from hangar.agent.cgroupfs import CgroupVersion, detect_layout
from hangar.agent.errors import KernelCreationFailed, SandboxUnavailable
from hangar.agent.runtimes import seccomp as bpf
from hangar.agent.runtimes.base import (
    HOME,
    KernelInfo,
    KernelSpec,
    RunningProcess,
    SandboxCommand,
    StdinSource,
    TerminationReason,
)
from hangar.agent.runtimes.bwrap_kept import KeptProcesses
from hangar.agent.runtimes.bwrap_moves import KernelMoves
from hangar.agent.runtimes.bwrap_state import (
    RLIMIT_NOTE,
    WAITER_SETTLE,
    BubblewrapConfig,
    _bwrap_knows,
    _classifier,
    _Kernel,
    _kill_sandbox,
    _write_atomic,
)
from hangar.agent.runtimes.cgroups import CgroupManager, KernelCgroup
from hangar.agent.runtimes.disk import (
    ScratchDisks,
    attach_disk,
    detach_disk,
)
from hangar.agent.runtimes.network import (
    KernelNetworks,
    drop_network,
    join_network,
    open_networks,
    start_network,
)
from hangar.agent.runtimes.prespawn import Waiters, fits, waiter_argv
from hangar.agent.runtimes.process import (
    ProcessHandle,
    Spawned,
    spawn,
)
from hangar.agent.runtimes.rootfs import (
    mount_overlay,
    unmount_overlay,
    waiter_shell,
)
from hangar.agent.runtimes.sandbox import (
    SandboxOptions,
    sandbox_argv,
    sandbox_env,
)
from hangar.agent.runtimes.scratch import home_mounts, prepare_scratch


class BubblewrapRuntime(KernelMoves, KeptProcesses):
    """Runs kernels in bubblewrap sandboxes. Build it with :meth:`start`."""

    name = "bubblewrap"

    def __init__(
        self,
        config: BubblewrapConfig,
        options: SandboxOptions,
        cgroups: CgroupManager | None,
        notes: tuple[str, ...],
        networks: KernelNetworks | None = None,
    ) -> None:
        self.config, self.options, self.cgroups, self.notes = config, options, cgroups, notes
        self.networks = networks  # None: kernels share the host's network
        self._kernels: dict[str, _Kernel] = {}
        self.disks: ScratchDisks | None = None
        self.waiters = Waiters(self._waiter_command, _kill_sandbox) if config.prestart else None

    @classmethod
    def start(cls, config: BubblewrapConfig) -> BubblewrapRuntime:
        """Check the host, write the state files, choose cgroups or rlimits, probe a sandbox.

        Raises SandboxUnavailable naming what is missing (bwrap, setpriv, namespaces).
        """
        privileged = config.privileged if config.privileged is not None else os.geteuid() == 0
        needed = [config.bwrap, config.shell] + ([config.setpriv] if privileged else [])
        for program in needed:
            if shutil.which(program) is None:
                raise SandboxUnavailable(
                    f"{program} not found (Debian: apt-get install bubblewrap)"
                )
        config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        notes: list[str] = []
        seccomp_file = cls._write_seccomp(config, notes)
        cgroups = cls._open_cgroups(config, notes)
        disable_userns = privileged or _bwrap_knows(config.bwrap, "--disable-userns")
        if not disable_userns:
            notes.append("bwrap < 0.8 lacks --disable-userns: only seccomp blocks user namespaces")
        options = SandboxOptions(
            bwrap=config.bwrap,
            setpriv=config.setpriv,
            prlimit=config.prlimit,
            shell=config.shell,
            privileged=privileged,
            seccomp_file=seccomp_file,
            hidden_paths=tuple(config.hidden_paths),
            disable_userns=disable_userns,
        )
        networks = open_networks(
            config.state_dir / "net", config.network, privileged, notes, pasta=config.pasta
        )
        runtime = cls(config, options, cgroups, tuple(notes), networks)
        runtime._probe()
        runtime.disks, note = ScratchDisks.open(
            config.state_dir / "disks", config.scratch_disk_bytes
        )
        runtime.notes += (note,) if note else ()
        return runtime

    @staticmethod
    def _write_seccomp(config: BubblewrapConfig, notes: list[str]) -> Path | None:
        if not config.seccomp:
            notes.append("seccomp filter disabled by configuration")
            return None
        if not bpf.host_supported():
            notes.append("seccomp filter not applied: no syscall table for this architecture")
            return None
        path = config.state_dir / "seccomp.bpf"
        program = bpf.build_program(config.blocked_syscalls)
        _write_atomic(path, bpf.assemble(program))
        return path

    @staticmethod
    def _open_cgroups(config: BubblewrapConfig, notes: list[str]) -> CgroupManager | None:
        """Kernel cgroups under the configured parent; on v2, where the agent's own cgroup
        holds processes (EBUSY), under the same name at the hierarchy root instead."""
        layout = detect_layout() if config.use_cgroups else None
        reasons = [
            "disabled by configuration" if not config.use_cgroups else "no memory controller"
        ]
        if layout is not None:
            reasons = []
            candidates = [config.cgroup_parent]
            if layout.version is CgroupVersion.V2 and not config.cgroup_parent.startswith("/"):
                candidates.append("/" + config.cgroup_parent)
            for parent in candidates:
                try:
                    return CgroupManager.open(layout, parent)
                except OSError as exc:
                    reasons.append(f"cgroup parent {parent!r}: {exc}")
        notes.append(RLIMIT_NOTE.format(reason="; ".join(reasons)))
        return None

    def _probe(self) -> None:
        probe_dir = self.config.state_dir / "probe"
        probe_dir.mkdir(exist_ok=True)
        spec = KernelSpec("probe", probe_dir)
        argv = sandbox_argv(spec, self._options_for(spec), ["/bin/true"])
        result = subprocess.run(argv, capture_output=True, cwd="/", env={}, check=False)
        if result.returncode != 0:
            detail = result.stderr.decode(errors="replace").strip()
            raise SandboxUnavailable(f"bubblewrap sandbox does not start: {detail}")

    async def create(self, spec: KernelSpec) -> KernelInfo:
        if spec.kernel_id in self._kernels:
            raise KernelCreationFailed(f"kernel {spec.kernel_id!r} already exists")
        owner = (spec.uid, spec.gid) if self.options.privileged else None
        cgroup: KernelCgroup | None = None
        network = start_network(self.networks, spec.kernel_id)  # while the disk is made
        try:
            disk_notes = await attach_disk(self.disks, spec)
            cgroup, options = await asyncio.to_thread(self._prepare, spec, owner)
            await asyncio.shield(network)  # cancelled, it still ends as a whole (see below)
        except BaseException as exc:
            await drop_network(self.networks, network, spec.kernel_id)
            if not isinstance(exc, OSError):
                raise
            if cgroup is not None:
                await cgroup.remove(self.config.destroy_timeout)
            with contextlib.suppress(OSError):
                await detach_disk(self.disks, spec.kernel_id)
            if spec.image.rootfs is not None:
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(unmount_overlay, spec)
            raise KernelCreationFailed(f"cannot prepare kernel {spec.kernel_id!r}: {exc}") from exc
        info = KernelInfo(
            spec.kernel_id, spec.scratch_dir, self.limit_mode, self.notes + disk_notes
        )
        self._kernels[spec.kernel_id] = _Kernel(spec, info, options, cgroup)
        if spec.image.bootstrap:
            await self._bootstrap(spec)
        return info

    def _prepare(
        self, spec: KernelSpec, owner: tuple[int, int] | None
    ) -> tuple[KernelCgroup | None, SandboxOptions]:
        """A new kernel's file work, in one thread hop: its scratch dir, sandbox options and
        cgroup (with its limits; made last, so a failure leaves none). Raises OSError."""
        prepare_scratch(spec.scratch_dir, owner, home_mounts(spec))
        options = self._options_for(spec)
        if spec.image.rootfs is not None:
            mount_overlay(spec, self.options.privileged)
        cgroup = self.cgroups.create(spec.kernel_id, spec.limits) if self.cgroups else None
        return cgroup, options

    async def _bootstrap(self, spec: KernelSpec) -> None:
        script = spec.image.bootstrap or ""
        handle = await self.run(
            spec.kernel_id, ["/bin/sh", "-c", script], timeout=self.config.bootstrap_timeout
        )
        out, err, status = await handle.communicate()
        if status.exit_code != 0 or status.reason is not TerminationReason.EXITED:
            await self.destroy(spec.kernel_id, remove_scratch=False)
            tail = (err or out).decode(errors="replace")[-2000:]
            raise KernelCreationFailed(f"bootstrap script failed: {status.message}\n{tail}")

    def command(
        self,
        kernel_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> SandboxCommand:
        kernel = self._get(kernel_id)
        join = kernel.cgroup.procs_files if kernel.cgroup is not None else ()
        full = join_network(self.networks, kernel_id) + sandbox_argv(
            kernel.spec,
            kernel.options,
            argv,
            cwd=cwd or HOME,
            join=join,
            rlimits=kernel.cgroup is None,
            args_file=self._args_file(kernel),
        )
        return SandboxCommand(tuple(full), sandbox_env(kernel.spec, env))

    def prestart(self, kernel_id: str) -> None:
        if self.waiters is not None and kernel_id in self._kernels:
            self.waiters.keep_ready(kernel_id)

    async def settle(self, kernel_id: str) -> None:
        if self.waiters is not None:
            await self.waiters.settle(kernel_id, WAITER_SETTLE)

    def _waiter_command(self, kernel_id: str) -> tuple[SandboxCommand, bytes] | None:
        """A waiter's sandbox command and the options data it is built with (None: the
        kernel is gone)."""
        kernel = self._kernels.get(kernel_id)
        if kernel is None:
            return None
        shell = waiter_shell(kernel.spec) or self.config.shell  # an image's may have none
        command = self.command(kernel_id, waiter_argv(shell))
        return command, kernel.args_data

    def netns(self, kernel_id: str) -> Path | None:
        self._get(kernel_id)
        return self.networks.path(kernel_id) if self.networks is not None else None

    async def run(
        self,
        kernel_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: StdinSource = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the process's limit, not the call's
        keep: str | None = None,
    ) -> RunningProcess:
        kernel = self._get(kernel_id)
        command = self.command(kernel_id, argv, env=env, cwd=cwd)
        classify = _classifier(kernel, timeout)
        if keep is not None:
            if stdin == "pipe":
                raise ValueError("a kept process cannot have a stdin pipe")
            return await self._run_kept(kernel, keep, command, classify, stdin, timeout)
        spawned = await self._prestarted(kernel, argv, command.env, cwd or HOME, stdin is not None)
        if spawned is None:
            piped = stdin is not None
            spawned = await spawn(command.argv, env=command.env, cwd="/", stdin_pipe=piped)

        def ended(handle: ProcessHandle) -> None:
            kernel.processes.discard(handle)
            if self.waiters is not None and self._kernels.get(kernel_id) is kernel:
                self.waiters.refill(kernel_id)

        handle = ProcessHandle(
            spawned,
            classify=classify,
            terminate=lambda: _kill_sandbox(spawned.process.pid),
            timeout=timeout,
            stdin_data=stdin if isinstance(stdin, bytes) else None,
            on_exit=ended,
        )
        kernel.processes.add(handle)
        return handle

    async def _prestarted(
        self,
        kernel: _Kernel,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        stdin: bool,
    ) -> Spawned | None:
        """The kernel's waiting sandbox, handed ``argv`` (see .prespawn), if it has one
        built with its current options (one still being built is waited for)."""
        if self.waiters is None or not fits(argv):
            return None
        waiter = self.waiters.take(kernel.spec.kernel_id, kernel.args_data)
        if waiter is None:
            return None
        if not await waiter.wait_ready():
            self.waiters.discard(waiter)
            return None
        return waiter.hand_over(argv, env, cwd, keep_stdin=stdin)


__all__ = ["RLIMIT_NOTE", "WAITER_SETTLE", "BubblewrapConfig", "BubblewrapRuntime"]
