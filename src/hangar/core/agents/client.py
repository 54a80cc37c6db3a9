"""How the core reaches an agent: one interface, in-process for the embedded agent, over
HTTP/WebSocket for a remote one.

The calls take and return the agent's own wire types (:mod:`hangar.agent.models`): the agent
owns that contract, the core does not copy it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

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

    async def info(self) -> NodeInfo: ...

    async def create_kernel(self, request: KernelRequest) -> None:
        """Start the kernel; raises AgentError (nothing left behind) on failure."""

    async def destroy_kernel(self, kernel_id: uuid.UUID) -> ContainerStats | None:
        """Stop it, remove its scratch dir, return its last stats. Idempotent."""

    async def restart_kernel(self, kernel_id: uuid.UUID) -> None:
        """Stop its processes and start it again keeping the scratch dir."""

    async def suspend_kernel(self, kernel_id: uuid.UUID) -> None:
        """Stop its processes and let go of it, keeping the scratch dir: a kernel of the
        same id created later on this agent finds /home/work as it was."""

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

    async def stats(self, kernel_id: uuid.UUID) -> ContainerStats: ...

    async def usage(self) -> NodeUsage:
        """The host's CPU and memory use now (its load, sessions and all)."""
        ...

    async def image_pull(self, reference: str) -> ImagePull | None:
        """How far the agent's pull of the image is (None: it is not pulling it)."""
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
