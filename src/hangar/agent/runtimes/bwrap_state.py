"""The bubblewrap runtime's settings, its state of one kernel, the helpers its parts share
and :class:`BwrapState`, the attributes and look-ups of
:class:`~hangar.agent.runtimes.bubblewrap.BubblewrapRuntime` that its parts use."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from hangar.agent.cgroupfs import CgroupVersion
from hangar.agent.errors import KernelNotFound
from hangar.agent.runtimes import seccomp as bpf
from hangar.agent.runtimes.base import (
    ExitStatus,
    KernelInfo,
    KernelRuntime,
    KernelSpec,
    LimitMode,
    RunningProcess,
    TerminationReason,
)
from hangar.agent.runtimes.cgroups import CgroupManager, KernelCgroup
from hangar.agent.runtimes.detached import (
    KeptFiles,
    alive_pid,
    kill_supervised,
)
from hangar.agent.runtimes.disk import (
    ScratchDisks,
)
from hangar.agent.runtimes.network import (
    KernelNetworks,
    NetworkPolicy,
)
from hangar.agent.runtimes.prespawn import Waiters
from hangar.agent.runtimes.process import (
    Classifier,
    RusageMeter,
    exit_status,
)
from hangar.agent.runtimes.sandbox import (
    SandboxOptions,
    args_file_data,
    group_text,
    kernel_args,
    passwd_text,
)
from hangar.agent.runtimes.scratch import remove_tree

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


class BwrapState(KernelRuntime):
    """The runtime's attributes (set by
    :class:`~hangar.agent.runtimes.bubblewrap.BubblewrapRuntime`) and shared look-ups."""

    config: BubblewrapConfig
    options: SandboxOptions
    cgroups: CgroupManager | None
    notes: tuple[str, ...]
    networks: KernelNetworks | None
    disks: ScratchDisks | None
    waiters: Waiters | None
    _kernels: dict[str, _Kernel]

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

    def _kept(self, kernel_id: str, keep: str = "") -> KeptFiles:
        return KeptFiles(self.config.state_dir / "kept" / kernel_id / keep)

    def _end_kept(self, kernel_id: str) -> None:
        """Kill the kept processes an earlier agent left in the kernel; forget their files."""
        root = self._kept(kernel_id).root
        for entry in root.iterdir() if root.is_dir() else ():
            pid = alive_pid(KeptFiles(entry))
            if pid is not None:
                kill_supervised(pid)
        remove_tree(root)
