"""How the core reaches an agent: one interface, in-process for the embedded agent.

Every type here is plain data, so a remote (HTTP/WebSocket) client can carry the same calls.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from hangar.core.images.models import ImageProvider


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: str
    model: str
    memory_bytes: int
    shares: Decimal


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """What an agent offers: slot capacity (cpu, mem; GPUs only as devices) and devices."""

    agent_id: str
    slots: Mapping[str, Decimal]
    devices: tuple[DeviceInfo, ...] = ()
    architecture: str = "x86_64"
    version: str = ""
    addr: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KernelMount:
    """A host directory (a vfolder) bound into the kernel at ``target``."""

    host_path: str
    target: str
    read_only: bool


@dataclass(frozen=True, slots=True)
class KernelFile:
    """A file written below /home/work before the kernel starts (dotfiles)."""

    path: str
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True, slots=True)
class KernelCreation:
    """Everything an agent needs to start a session's kernel."""

    kernel_id: uuid.UUID
    session_name: str
    provider: ImageProvider
    image_labels: Mapping[str, str]
    cpu: Decimal
    memory_bytes: int
    gpu_devices: tuple[str, ...] = ()
    gpu_shares: Mapping[str, Decimal] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    bootstrap_script: str | None = None
    mounts: tuple[KernelMount, ...] = ()
    files: tuple[KernelFile, ...] = ()
    shmem_bytes: int | None = None  # size of /dev/shm; None: the runtime's default
    disk_bytes: int | None = None  # size of the scratch disk; None: the agent's default
    interactive: bool = True  # False for batch sessions: no Jupyter kernel is made ready


@dataclass(frozen=True, slots=True)
class BatchSteps:
    """Shell commands of a batch run; None/"" skips a step, "*" takes the image default."""

    clean: str | None = None
    build: str | None = None
    exec: str | None = None
    build_log: bool = False
    timeout: float | None = None


OutputKind = Literal[
    "stdout",
    "stderr",
    "media",
    "html",
    "waiting-input",
    "clean-finished",
    "build-finished",
    "finished",
    "exec-timeout",
]


@dataclass(frozen=True, slots=True)
class RunOutput:
    """One record of a run: console text, or a step/run end with its exit code.

    Query runs add ``media`` (``mime`` and the data in ``text``: a data URI, SVG XML or a
    drawing's JSON), ``html`` and ``waiting-input`` (``text`` is the prompt, ``password``
    whether to hide the answer).
    """

    kind: OutputKind
    text: str = ""
    exit_code: int | None = None
    mime: str = ""
    password: bool = False


@dataclass(frozen=True, slots=True)
class FileEntry:
    filename: str
    size: int
    mode: str
    ctime: float
    mtime: float
    atime: float


@dataclass(frozen=True, slots=True)
class KernelStats:
    cpu_used: int = 0
    mem_max_bytes: int = 0
    mem_cur_bytes: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0
    io_read_bytes: int = 0
    io_write_bytes: int = 0
    io_max_scratch_size: int = 0
    io_cur_scratch_size: int = 0
    io_scratch_limit: int = 0  # the scratch disk's size; 0: not limited


@dataclass(frozen=True, slots=True)
class NodeUsage:
    """The agent host's use now: each core's CPU in percent (100 = busy), memory in bytes."""

    cpu_util: tuple[float, ...] = ()
    mem_used: int = 0
    mem_total: int = 0


class AppStream(Protocol):
    """A byte stream to a kernel's service app (one client connection)."""

    async def read(self) -> bytes:
        """The next bytes from the service; b"" once it closed its side."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None:
        """End the connection (and a per-connection service process). Idempotent."""


class TerminalStream(AppStream, Protocol):
    """An attachment to a kernel's shared terminal (a shell on a pty)."""

    async def resize(self, rows: int, cols: int) -> None: ...

    async def restart(self) -> None:
        """Replace the shell with a new one; the attachment stays."""


class AgentClient(Protocol):
    """Calls the core makes on an agent. Errors: agent-side failures raise AgentError."""

    agent_id: str

    async def info(self) -> AgentInfo: ...

    async def create_kernel(self, creation: KernelCreation) -> None:
        """Start the kernel; raises AgentError (nothing left behind) on failure."""

    async def destroy_kernel(self, kernel_id: uuid.UUID) -> KernelStats | None:
        """Stop it, remove its scratch dir, return its last stats. Idempotent."""

    async def restart_kernel(self, kernel_id: uuid.UUID) -> None:
        """Stop its processes and start it again keeping the scratch dir."""

    def run_batch(self, kernel_id: uuid.UUID, steps: BatchSteps) -> AsyncIterator[RunOutput]:
        """Run clean -> build -> exec; yields output in order and ends with the run's end."""
        ...

    def run_query(
        self,
        kernel_id: uuid.UUID,
        code: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the cell's limit
    ) -> AsyncIterator[RunOutput]:
        """Run a cell in the kernel's Jupyter kernel; yields console records and
        ``waiting-input``, ends with ``finished`` or ``exec-timeout``."""
        ...

    async def send_input(self, kernel_id: uuid.UUID, text: str) -> None:
        """Answer the running cell's ``input()`` (queued when none waits)."""

    async def complete(
        self, kernel_id: uuid.UUID, code: str, options: Mapping[str, Any] | None
    ) -> list[str]:
        """Completion candidates for ``code`` (options: row, col, line, post)."""
        ...

    async def interrupt(self, kernel_id: uuid.UUID) -> None:
        """Interrupt what the kernel is running (no error when idle)."""

    async def stats(self, kernel_id: uuid.UUID) -> KernelStats: ...

    async def usage(self) -> NodeUsage:
        """The host's CPU and memory use now (its load, sessions and all)."""
        ...

    async def logs(self, kernel_id: uuid.UUID) -> str:
        """The kernel's console log (bootstrap and batch output)."""
        ...

    async def upload(self, kernel_id: uuid.UUID, files: Sequence[tuple[str, bytes]]) -> None:
        """Write files at paths relative to /home/work. Raises AgentError on escapes."""

    async def download(self, kernel_id: uuid.UUID, paths: Sequence[str]) -> list[bytes]:
        """One uncompressed tar archive per path, holding it under its basename."""
        ...

    async def list_files(self, kernel_id: uuid.UUID, path: str) -> tuple[str, list[FileEntry]]:
        """(absolute path in the sandbox, entries). Raises AgentError when missing/escaping."""
        ...

    async def shutdown(self) -> None:
        """Stop every kernel, keeping scratch dirs: the agent process is going away."""

    async def output_files(self, kernel_id: uuid.UUID) -> list[str]:
        """Names of the files under /home/work/.output."""
        ...

    async def open_app(self, kernel_id: uuid.UUID, app: str) -> AppStream:
        """Connect to the kernel's service ``app`` (``jupyter``, ``ttyd``, ``sshd``), starting it
        when needed. Raises NotFound for an app the kernel lacks, AgentError when it fails."""
        ...

    async def open_terminal(self, kernel_id: uuid.UUID) -> TerminalStream:
        """Attach to the kernel's shared terminal, starting its shell when needed."""
        ...
