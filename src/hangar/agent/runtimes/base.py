"""The runtime interface: create a kernel, run processes in it, read its stats, destroy it.

A *kernel* is a scratch directory plus limits; processes started with :meth:`KernelRuntime.run`
share them (like processes in one container). Specs are frozen dataclasses validated on
construction; ``destroy`` is idempotent. ``fake.FakeRuntime`` follows the same contract
without isolation, for fast tests of code above the agent.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Literal

from hangar.agent.errors import InvalidKernelSpec, KernelCreationFailed, KernelNotFound
from hangar.agent.models import ContainerStats
from hangar.agent.runtimes.network import open_connection_in

HOME = "/home/work"
DOCUMENTED_ENV: Mapping[str, str] = MappingProxyType(
    {"TERM": "xterm", "LANG": "C.UTF-8", "SHELL": "/bin/bash", "USER": "work", "HOME": HOME}
)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_KERNEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

StdinSource = bytes | Literal["pipe"] | None


class TerminationReason(StrEnum):
    """Why a process ended."""

    EXITED = "exited"
    TIMED_OUT = "timed-out"
    MEMORY_LIMIT = "memory-limit-exceeded"
    KILLED = "killed"


class LimitMode(StrEnum):
    """How a kernel's limits are enforced."""

    CGROUP_V1 = "cgroup-v1"
    CGROUP_V2 = "cgroup-v2"
    RLIMIT = "rlimit"
    NONE = "none"


def _fail(message: str) -> None:
    raise InvalidKernelSpec(message)


@dataclass(frozen=True, slots=True)
class BindMount:
    """A host path shown in the sandbox; a relative ``container_path`` is under /home/work."""

    host_path: Path
    container_path: str
    read_only: bool = True

    def __post_init__(self) -> None:
        if not self.host_path.is_absolute():
            _fail(f"bind source must be absolute: {self.host_path}")
        target = PurePosixPath(self.container_path)
        if not self.container_path or ".." in target.parts:
            _fail(f"bind target must be a plain path: {self.container_path!r}")
        if self.target in ("/", HOME):
            _fail(f"bind target may not replace {self.target}")

    @property
    def target(self) -> str:
        """The absolute path inside the sandbox."""
        path = PurePosixPath(self.container_path)
        return str(path if path.is_absolute() else PurePosixPath(HOME) / path)


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """Per-kernel limits; None means unlimited. ``cpu`` is in (fractional) cores."""

    cpu: float | None = None
    memory_bytes: int | None = None
    pids_max: int | None = None
    shmem_bytes: int | None = None  # the size of /dev/shm (a tmpfs)
    disk_bytes: int | None = None  # the scratch disk's size; None: the runtime's default

    def __post_init__(self) -> None:
        for name in ("cpu", "memory_bytes", "pids_max", "shmem_bytes", "disk_bytes"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                _fail(f"limit {name} must be positive, got {value}")


@dataclass(frozen=True, slots=True)
class GpuBinding:
    """One allocated GPU: host NVML index, uuid if known, device node if it has one."""

    index: int
    uuid: str | None = None
    device_node: str | None = None


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """How an environment is provided on this node.

    ``interpreter_prefix`` (a venv or prefix) is bound read-only at the same path and its
    ``bin`` put first on PATH; ``binds`` are further read-only host directories (system dirs
    for the image); ``bootstrap`` is a shell script run once by ``create`` inside the kernel.
    """

    name: str = "host"
    interpreter_prefix: Path | None = None
    binds: tuple[BindMount, ...] = ()
    bootstrap: str | None = None
    rootfs: Path | None = None  # a container image's root file system (see .rootfs)
    user: str = ""  # the image config's User (see hangar.agent.images.facts)
    user_ids: tuple[int, int] | None = None  # its uid/gid, mapped where a userns allows


@dataclass(frozen=True, slots=True)
class KernelSpec:
    """Everything a runtime needs to create one kernel. Raises InvalidKernelSpec when invalid.

    ``uid``/``gid`` are the ids of the ``work`` user (never 0); ``environ`` adds to the
    documented environment; ``unshare_net`` gives the kernel its own network (loopback only).
    """

    kernel_id: str
    scratch_dir: Path
    uid: int = 1000
    gid: int = 1000
    environ: Mapping[str, str] = field(default_factory=dict)
    limits: ResourceLimits = ResourceLimits()
    gpus: tuple[GpuBinding, ...] = ()
    mounts: tuple[BindMount, ...] = ()
    image: ImageSpec = ImageSpec()
    unshare_net: bool = False

    def __post_init__(self) -> None:
        if not _KERNEL_ID.match(self.kernel_id):
            _fail(f"kernel id must match {_KERNEL_ID.pattern}: {self.kernel_id!r}")
        # The parent is the scratch root, hidden from every sandbox: it may not be "/".
        if not self.scratch_dir.is_absolute() or len(self.scratch_dir.parts) < 3:
            _fail(f"scratch dir must be an absolute path below a scratch root: {self.scratch_dir}")
        if self.uid <= 0 or self.gid <= 0:
            _fail("the work user must not be root (uid and gid > 0)")
        validate_env(self.environ)
        object.__setattr__(self, "environ", MappingProxyType(dict(self.environ)))


def validate_env(env: Mapping[str, str]) -> None:
    """Raise InvalidKernelSpec for names that are not identifiers or values with NUL bytes."""
    for name, value in env.items():
        if not _ENV_NAME.match(name) or "\0" in value:
            _fail(f"invalid environment variable {name!r}")


@dataclass(frozen=True, slots=True)
class KernelInfo:
    """What ``create`` prepared, and how limits are enforced (``notes`` say what is weaker)."""

    kernel_id: str
    scratch_dir: Path
    limit_mode: LimitMode
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a process ended. ``exit_code`` follows the shell: 128+N after signal N."""

    exit_code: int
    reason: TerminationReason
    message: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SandboxCommand:
    """An argv and environment that start a process inside a kernel, for foreign launchers
    (a Jupyter kernelspec, a terminal server). No fds need passing."""

    argv: tuple[str, ...]
    env: Mapping[str, str]


class RunningProcess(ABC):
    """A process started in a kernel. Read ``stdout``/``stderr`` while waiting, or the pipes
    fill and the process blocks; ``communicate`` does both."""

    pid: int
    stdin: asyncio.StreamWriter | None
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader

    @abstractmethod
    async def wait(self) -> ExitStatus:
        """Wait for the end of the process and its whole sandbox; safe to call repeatedly."""

    @abstractmethod
    def kill(self) -> None:
        """Kill the process and everything it started; its status says KILLED. Idempotent."""

    async def communicate(self) -> tuple[bytes, bytes, ExitStatus]:
        """Read both streams to the end and wait; returns (stdout, stderr, status)."""
        out, err = await asyncio.gather(self.stdout.read(), self.stderr.read())
        return out, err, await self.wait()


class KernelRuntime(ABC):
    """Creates and runs kernels on this node."""

    name: str

    @abstractmethod
    async def create(self, spec: KernelSpec) -> KernelInfo:
        """Prepare the scratch dir (kept if it exists) and limits, run the bootstrap script.

        Raises KernelCreationFailed (nothing is left behind) or InvalidKernelSpec; creating
        a kernel id that is live raises KernelCreationFailed.
        """

    @abstractmethod
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
        """Start ``argv`` in the kernel (cwd default /home/work, ``env`` added last).

        ``stdin``: bytes to feed then close, ``"pipe"`` for a writable ``stdin``, None for
        /dev/null. After ``timeout`` seconds the process is killed (TIMED_OUT). ``keep``
        names a process that outlives the agent (not with ``"pipe"``): a later agent finds
        it with :meth:`reattach` under that name (one per name and kernel).
        Raises KernelNotFound.
        """

    async def recover(self, spec: KernelSpec) -> KernelInfo:
        """Take over the kernel ``spec`` an earlier agent created (its scratch dir and
        limits are still there). Raises KernelNotFound where nothing of it is left or the
        runtime cannot do this (the default)."""
        raise KernelNotFound(f"the {self.name} runtime cannot recover kernels")

    def release(self) -> None:
        """Stop watching the kept processes (the agent is going away; they run on, and
        what they write from now on is read by the next agent). None by default."""
        return None

    async def reattach(self, kernel_id: str, keep: str) -> RunningProcess | None:
        """The process started with ``keep`` in a recovered kernel: still running, or
        ended (its ``wait`` then answers at once, with the status it ended with); None
        when there never was one. Raises KernelNotFound."""
        return None

    @abstractmethod
    async def stats(self, kernel_id: str) -> ContainerStats:
        """Return the kernel's usage so far. Raises KernelNotFound."""

    @abstractmethod
    async def destroy(self, kernel_id: str, *, remove_scratch: bool) -> None:
        """Kill the kernel's processes, release its limits, optionally delete the scratch dir.

        Idempotent: an unknown or already destroyed kernel is not an error; leftovers a runtime
        can find by the id alone (a cgroup from before an agent restart) are still removed.
        """

    async def adopt(self, source_id: str, spec: KernelSpec) -> KernelInfo:
        """Turn the live kernel ``source_id`` into the kernel ``spec`` describes, keeping its
        running processes: its scratch dir moves to ``spec.scratch_dir`` (which must not
        exist) and ``spec``'s limits apply to its processes. The processes keep the view they
        were started with: the caller makes sure it fits (same user, image binds, GPUs and
        network are checked here; mounts and the interpreter prefix path are not).

        Raises KernelNotFound, or KernelCreationFailed (the source is then left as it was)
        where the runtime cannot do this (the default).
        """
        raise KernelCreationFailed(f"the {self.name} runtime cannot adopt kernels")

    def prestart(self, kernel_id: str) -> None:
        """Keep a sandbox of the live kernel built ahead of its next run, from now until it
        is destroyed (for kernels that run commands often: interactive sessions); runs then
        start sooner. Best effort: nothing by default, and nothing when the kernel is gone."""
        return None

    async def settle(self, kernel_id: str) -> None:
        """Wait (briefly) until the sandbox :meth:`prestart` builds for the kernel, if one is
        being built, is in place: before :meth:`adopt` moves the kernel's paths and limits
        from under it. Nothing by default."""
        return None

    def netns(self, kernel_id: str) -> Path | None:
        """The file of the kernel's own network namespace (every process of the kernel runs
        in it); None when the kernel shares the agent's network. Raises KernelNotFound."""
        return None

    async def open_port(
        self, kernel_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` on the kernel's loopback, opened from inside its
        network: how the agent reaches what a session listens on (apps, exposed ports).
        Raises KernelNotFound, OSError (ConnectionRefusedError: nothing listens there)."""
        return await open_connection_in(self.netns(kernel_id), "127.0.0.1", port)

    @abstractmethod
    def command(
        self,
        kernel_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> SandboxCommand:
        """Return how to start ``argv`` in the kernel from another launcher.

        Timeouts and memory-limit reporting are then the launcher's job. Raises KernelNotFound.
        """
