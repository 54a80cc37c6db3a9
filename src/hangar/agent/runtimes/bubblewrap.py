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
import dataclasses
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hangar.agent.cgroupfs import CgroupVersion, detect_layout
from hangar.agent.errors import KernelCreationFailed, KernelNotFound, SandboxUnavailable
from hangar.agent.models import ContainerStats
from hangar.agent.runtimes import seccomp as bpf
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
from hangar.agent.runtimes.cgroups import CgroupManager, KernelCgroup
from hangar.agent.runtimes.detached import (
    KeptFiles,
    KeptProcess,
    alive_pid,
    kill_supervised,
    start_kept,
)
from hangar.agent.runtimes.disk import (
    ScratchDisks,
    attach_disk,
    check_adoptable,
    detach_disk,
    move_scratch,
    scratch_usage,
)
from hangar.agent.runtimes.disk import usage as disk_usage
from hangar.agent.runtimes.network import (
    KernelNetworks,
    NetworkPolicy,
    drop_network,
    join_network,
    open_networks,
    start_network,
)
from hangar.agent.runtimes.prespawn import Waiters, fits, waiter_argv
from hangar.agent.runtimes.process import (
    Classifier,
    ProcessHandle,
    RusageMeter,
    Spawned,
    exit_status,
    spawn,
)
from hangar.agent.runtimes.rootfs import (
    adopts_image,
    mount_overlay,
    unmount_overlay,
    waiter_shell,
)
from hangar.agent.runtimes.sandbox import (
    SandboxOptions,
    args_file_data,
    group_text,
    kernel_args,
    passwd_text,
    sandbox_argv,
    sandbox_env,
)
from hangar.agent.runtimes.scratch import home_mounts, prepare_scratch, remove_tree

WAITER_SETTLE = 1.0  # seconds an adoption waits for the pooled kernel's waiter to be built
RLIMIT_NOTE = (
    "cgroups unavailable ({reason}): memory is limited by RLIMIT_AS (virtual memory; breaks "
    "CUDA, JVMs, some BLAS), process count by RLIMIT_NPROC (counted per uid across the host), "
    "CPU is not limited, and stats are approximate"
)


@dataclass(frozen=True, slots=True)
class BubblewrapConfig:
    """Settings of the local runtime.

    ``state_dir`` holds the runtime's files (seccomp program, passwd/group for the work
    user); ``hidden_paths`` (the data dir) are replaced by empty directories in every
    sandbox. ``privileged`` None means "if the agent runs as root". ``cgroup_parent`` is
    relative to the agent's own cgroup unless absolute.
    """

    state_dir: Path
    hidden_paths: tuple[Path, ...] = ()
    bwrap: str = "/usr/bin/bwrap"
    setpriv: str = "/usr/bin/setpriv"
    prlimit: str = "/usr/bin/prlimit"
    shell: str = "/bin/sh"
    privileged: bool | None = None
    use_cgroups: bool = True
    cgroup_parent: str = "hangar"
    seccomp: bool = True
    blocked_syscalls: tuple[str, ...] = bpf.DEFAULT_BLOCKED
    bootstrap_timeout: float = 300.0
    destroy_timeout: float = 10.0
    scratch_disk_bytes: int | None = None  # each kernel's disk (see .disk); None: unlimited
    network: NetworkPolicy = NetworkPolicy.EGRESS  # as root: a private network per kernel
    pasta: str = "/usr/bin/pasta"
    # Keep a sandbox built ahead of the next run for kernels that ask (see .prespawn).
    prestart: bool = True


@dataclass
class _Kernel:
    spec: KernelSpec
    info: KernelInfo
    options: SandboxOptions
    cgroup: KernelCgroup | None
    processes: set[RunningProcess] = field(default_factory=set)
    meter: RusageMeter = field(default_factory=RusageMeter)
    scratch_max: int = 0
    args_data: bytes = b""  # what its bwrap options file holds


def _write_atomic(path: Path, data: bytes) -> None:
    # One temporary name per thread: kernels are prepared on worker threads too.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    temporary.write_bytes(data)
    temporary.replace(path)


def _bwrap_knows(bwrap: str, option: str) -> bool:
    """Whether ``bwrap --help`` lists ``option`` (``--disable-userns`` needs bwrap 0.8)."""
    try:
        result = subprocess.run([bwrap, "--help"], capture_output=True, text=True, check=False)
    except OSError:
        return False
    return option in result.stdout


def _kill_sandbox(pid: int) -> None:
    """SIGKILL the sandbox's PID 1 (bwrap's child): the kernel then kills the namespace and
    bwrap exits only once all of it is gone. Before that child exists, kill ``pid`` itself."""
    try:
        inner = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        inner = []
    for target in inner or [pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)


def _classifier(kernel: _Kernel, timeout: float | None) -> Classifier:
    """Snapshot the kernel's counters now; the returned classifier reports what changed by
    the time the process ends (OOM kills, refused forks, CPU time without cgroups)."""
    cgroup, limits = kernel.cgroup, kernel.spec.limits
    oom_before = cgroup.oom_kills() if cgroup is not None else 0
    hits_before = cgroup.pids_limit_hits() if cgroup is not None else 0
    usage_before = RusageMeter.snapshot()

    def classify(code: int, forced: TerminationReason | None) -> ExitStatus:
        kernel.meter.add(usage_before)
        oom = cgroup is not None and cgroup.oom_kills() > oom_before
        hits = cgroup.pids_limit_hits() - hits_before if cgroup is not None else 0
        notes = (f"process limit (pids.max={limits.pids_max}) refused {hits} fork(s)",)
        return exit_status(
            code,
            forced,
            timeout=timeout,
            oom_killed=oom,
            memory_limit=limits.memory_bytes,
            notes=notes if hits > 0 else (),
        )

    return classify


def _waiter_fit(
    source: _Kernel, spec: KernelSpec, options: SandboxOptions
) -> tuple[bytes | None, tuple[tuple[str, str], ...]]:
    """Whether the sandbox built ahead for ``source`` (a pooled kernel) is the one ``spec``'s
    runs would get: its options file's data for ``spec`` (None: it is not) and the aliases of
    the paths the adoption renamed but the sandbox binds where they were (the interpreter's
    shim). Its scratch dir, service files and cgroup moved with it; only the kernel id in
    the paths differs."""
    data = args_file_data(kernel_args(spec, options))
    old_id, new_id = source.spec.kernel_id.encode(), spec.kernel_id.encode()
    if not source.args_data or source.args_data.replace(old_id, new_id) != data:
        return None, ()
    old, new = source.spec.image.interpreter_prefix, spec.image.interpreter_prefix
    aliases = ((str(new), str(old)),) if old is not None and new is not None else ()
    return data, aliases


class BubblewrapRuntime(KernelRuntime):
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

    @property
    def limit_mode(self) -> LimitMode:
        """How this runtime enforces limits."""
        if self.cgroups is None:
            return LimitMode.RLIMIT
        v1 = self.cgroups.version is CgroupVersion.V1
        return LimitMode.CGROUP_V1 if v1 else LimitMode.CGROUP_V2

    def _options_for(self, spec: KernelSpec) -> SandboxOptions:
        state = self.config.state_dir
        passwd, group = state / f"passwd-{spec.uid}-{spec.gid}", state / f"group-{spec.gid}"
        if not passwd.exists():
            host = Path("/etc/passwd").read_text()
            _write_atomic(passwd, passwd_text(host, spec.uid, spec.gid).encode())
        wanted = group_text(Path("/etc/group").read_text(), spec.gid)
        if not group.exists() or group.read_text() != wanted:  # an older layout may be there
            _write_atomic(group, wanted.encode())
        return dataclasses.replace(self.options, passwd_file=passwd, group_file=group)

    def _get(self, kernel_id: str) -> _Kernel:
        try:
            return self._kernels[kernel_id]
        except KeyError:
            raise KernelNotFound(f"no kernel {kernel_id!r} on this runtime") from None

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

    async def adopt(self, source_id: str, spec: KernelSpec) -> KernelInfo:
        source = self._get(source_id)
        if spec.kernel_id in self._kernels or spec.scratch_dir.exists():
            raise KernelCreationFailed(f"kernel {spec.kernel_id!r} already exists")
        old = source.spec
        same = (old.uid, old.gid, old.image.binds, old.gpus, old.unshare_net) == (
            spec.uid, spec.gid, spec.image.binds, spec.gpus, spec.unshare_net
        ) or adopts_image(source.processes, old, spec)  # fmt: skip
        if not same or (self.cgroups is None and old.limits != spec.limits):
            raise KernelCreationFailed("the kernels' sandboxes differ")
        check_adoptable(self.disks, old, spec)
        cgroup: KernelCgroup | None = None
        renamed = self.cgroups is not None and self.cgroups.renames and source.cgroup is not None
        try:
            if self.cgroups is not None and renamed:
                cgroup = self.cgroups.rename(source_id, spec.kernel_id, spec.limits)
            elif self.cgroups is not None:
                cgroup = self.cgroups.create(spec.kernel_id, spec.limits)
                for pid in source.cgroup.pids() if source.cgroup is not None else ():
                    for procs in cgroup.procs_files:
                        procs.write_text(str(pid))
            move_scratch(self.disks, old, spec)
            if spec.image.rootfs is not None and old.image.rootfs is None:  # see adopts_image
                await asyncio.to_thread(mount_overlay, spec, self.options.privileged)
            if self._kept(source_id).root.is_dir():
                self._kept(spec.kernel_id).root.parent.mkdir(mode=0o700, exist_ok=True)
                self._kept(source_id).root.rename(self._kept(spec.kernel_id).root)
                for handle in source.processes:
                    if isinstance(handle, KeptProcess):
                        name = handle.files.root.name
                        handle.moved(self._kept(spec.kernel_id, name))
            if self.networks is not None:  # the namespace goes with the processes in it
                await self.networks.move(source_id, spec.kernel_id)
        except OSError as exc:
            if self.cgroups is not None and renamed and cgroup is not None:  # given back
                with contextlib.suppress(OSError):
                    self.cgroups.rename(spec.kernel_id, source_id)
            raise KernelCreationFailed(f"cannot adopt kernel {source_id!r}: {exc}") from exc
        self._kernels.pop(source_id)
        options = self._options_for(spec)
        if self.waiters is not None:  # its sandbox, built ahead of a run, goes along
            self.waiters.move(source_id, spec.kernel_id, *_waiter_fit(source, spec, options))
        self._args_path(source_id).unlink(missing_ok=True)
        if source.cgroup is not None and not renamed:
            await source.cgroup.remove(self.config.destroy_timeout)
        info = KernelInfo(spec.kernel_id, spec.scratch_dir, self.limit_mode, self.notes)
        self._kernels[spec.kernel_id] = _Kernel(
            spec, info, options, cgroup, source.processes, source.meter, source.scratch_max
        )
        return info

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

    def _args_path(self, kernel_id: str) -> Path:
        return self.config.state_dir / "args" / kernel_id

    def _args_file(self, kernel: _Kernel) -> Path:
        """The kernel's bwrap options file, (re)written when its options changed (the host
        tree they mirror may have); the sandbox's PID 1 then shows no host path."""
        data = args_file_data(kernel_args(kernel.spec, kernel.options))
        path = self._args_path(kernel.spec.kernel_id)
        if data != kernel.args_data or not path.exists():
            path.parent.mkdir(mode=0o700, exist_ok=True)
            _write_atomic(path, data)
            kernel.args_data = data
        return path

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

    def _kept(self, kernel_id: str, keep: str = "") -> KeptFiles:
        return KeptFiles(self.config.state_dir / "kept" / kernel_id / keep)

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

    def _end_kept(self, kernel_id: str) -> None:
        """Kill the kept processes an earlier agent left in the kernel; forget their files."""
        root = self._kept(kernel_id).root
        for entry in root.iterdir() if root.is_dir() else ():
            pid = alive_pid(KeptFiles(entry))
            if pid is not None:
                kill_supervised(pid)
        remove_tree(root)

    async def stats(self, kernel_id: str) -> ContainerStats:
        kernel = self._get(kernel_id)
        disk = disk_usage(kernel.spec.scratch_dir)  # a scratch disk's figures: no walk
        if disk is not None:
            size, limit = disk.used, disk.size
        else:
            size, limit = await asyncio.to_thread(scratch_usage, kernel.spec.scratch_dir)
        kernel.scratch_max = max(kernel.scratch_max, size)
        if kernel.cgroup is None:
            return ContainerStats(
                cpu_used=int(kernel.meter.cpu_seconds * 1000),
                mem_max_bytes=kernel.meter.max_rss_bytes,
                io_max_scratch_size=kernel.scratch_max,
                io_cur_scratch_size=size,
                io_scratch_limit=limit,
            )
        usage = kernel.cgroup.usage()
        return ContainerStats(
            cpu_used=usage.cpu_ns // 1_000_000,
            mem_max_bytes=usage.mem_max,
            mem_cur_bytes=usage.mem_cur,
            io_read_bytes=usage.io_read,
            io_write_bytes=usage.io_write,
            io_max_scratch_size=kernel.scratch_max,
            io_cur_scratch_size=size,
            io_scratch_limit=limit,
        )

    async def destroy(self, kernel_id: str, *, remove_scratch: bool) -> None:
        kernel = self._kernels.pop(kernel_id, None)
        if self.waiters is not None:
            await self.waiters.drop(kernel_id, self.config.destroy_timeout)
        if kernel is not None:
            for handle in list(kernel.processes):
                handle.kill()
            waits = [handle.wait() for handle in list(kernel.processes)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), self.config.destroy_timeout)
        cgroup = kernel.cgroup if kernel is not None else None
        if cgroup is None and self.cgroups is not None:
            cgroup = self.cgroups.cgroup_for(kernel_id)  # a leftover from before a restart
        if cgroup is not None:
            await cgroup.remove(self.config.destroy_timeout)
        await asyncio.to_thread(self._end_kept, kernel_id)
        self._args_path(kernel_id).unlink(missing_ok=True)
        if self.networks is not None:
            await self.networks.destroy(kernel_id)
        if kernel is not None and kernel.spec.image.rootfs is not None:
            await asyncio.to_thread(unmount_overlay, kernel.spec, keep=not remove_scratch)
        if remove_scratch:
            scratch = kernel.spec.scratch_dir if kernel is not None else None
            await detach_disk(self.disks, kernel_id, scratch)
        if remove_scratch and kernel is not None:
            await asyncio.to_thread(remove_tree, kernel.spec.scratch_dir)
