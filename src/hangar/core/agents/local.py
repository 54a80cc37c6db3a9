"""The embedded agent: an in-process ``AgentClient`` over this machine's ``Node``.

Converts between the core's plain types and the agent's (same field names) and turns the
agent's errors into core errors the faces know how to render.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from hangar.agent import node_errors
from hangar.agent.build import build_node, warm_pool
from hangar.agent.errors import AgentError as NodeAgentError
from hangar.agent.kernels.jupyter import QueryKernelFailed
from hangar.agent.models import BatchSteps as NodeBatchSteps
from hangar.agent.models import HomeFile, KernelRequest, MountRequest
from hangar.agent.node import Node
from hangar.agent.rpc.client import AgentUnreachable, NodeProxy
from hangar.agent.services import AppLaunchFailed, UnknownApp
from hangar.core.agents.client import (
    AgentInfo,
    AppStream,
    BatchSteps,
    DeviceInfo,
    FileEntry,
    KernelCreation,
    KernelStats,
    NodeUsage,
    RunOutput,
    TerminalStream,
)
from hangar.core.errors import (
    AgentError,
    AgentGone,
    InvalidRequest,
    KernelCreationFailed,
    NotFound,
)
from hangar.settings import Settings

T = TypeVar("T")


def _translate(exc: NodeAgentError) -> Exception:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, node_errors.FileError):
        return InvalidRequest(message)
    if isinstance(exc, UnknownApp):
        return NotFound("app service", message)
    if isinstance(exc, AppLaunchFailed):
        return AgentError(message)
    if isinstance(exc, node_errors.UnknownKernel):
        return NotFound("session", "The session's kernel is not running on its agent.")
    if isinstance(exc, QueryKernelFailed):
        return InvalidRequest(message)
    if isinstance(exc, node_errors.KernelStartFailed | node_errors.InvalidKernelRequest):
        return KernelCreationFailed(message)
    if isinstance(exc, AgentUnreachable):
        return AgentGone(message)
    return AgentError(message)


async def _call(action: Callable[[], Awaitable[T]]) -> T:
    try:
        return await action()
    except NodeAgentError as exc:
        raise _translate(exc) from exc


class LocalAgentClient:
    """The core's view of a node: the embedded one in this process, or a remote one through
    its :class:`NodeProxy` (same methods, same errors)."""

    def __init__(self, node: Node | NodeProxy) -> None:
        self._node = node
        self.agent_id = node.agent_id

    async def info(self) -> AgentInfo:
        info = await _call(self._node.info)
        devices = tuple(DeviceInfo(d.id, d.model, d.memory_bytes, d.shares) for d in info.devices)
        return AgentInfo(
            agent_id=info.agent_id, slots=dict(info.slots), devices=devices,
            architecture=info.architecture, version=info.version, addr=info.addr,
            notes=info.notes,
        )  # fmt: skip

    async def usage(self) -> NodeUsage:
        usage = await _call(self._node.usage)
        return NodeUsage(tuple(usage.cpu_util), usage.mem_used, usage.mem_total)

    async def create_kernel(self, creation: KernelCreation) -> None:
        provider = creation.provider
        request = KernelRequest(
            kernel_id=creation.kernel_id, session_name=creation.session_name,
            interpreter=provider.interpreter,
            interpreter_prefix=Path(provider.path) if provider.kind == "prefix" and provider.path
            else None,
            image_labels=dict(creation.image_labels), cpu=creation.cpu,
            memory_bytes=creation.memory_bytes, gpu_devices=creation.gpu_devices,
            gpu_shares=dict(creation.gpu_shares), environ=dict(creation.environ),
            bootstrap_script=creation.bootstrap_script,
            mounts=tuple(MountRequest(Path(m.host_path), m.target, m.read_only)
                         for m in creation.mounts),
            files=tuple(HomeFile(f.path, f.data, f.mode) for f in creation.files),
            shmem_bytes=creation.shmem_bytes, interactive=creation.interactive,
            disk_bytes=creation.disk_bytes,
        )  # fmt: skip
        await _call(lambda: self._node.create_kernel(request))

    async def destroy_kernel(self, kernel_id: uuid.UUID) -> KernelStats | None:
        stats = await _call(lambda: self._node.destroy_kernel(kernel_id))
        return KernelStats(**asdict(stats)) if stats is not None else None

    async def restart_kernel(self, kernel_id: uuid.UUID) -> None:
        await _call(lambda: self._node.restart_kernel(kernel_id))

    async def run_batch(self, kernel_id: uuid.UUID, steps: BatchSteps
                        ) -> AsyncIterator[RunOutput]:  # fmt: skip
        node_steps = NodeBatchSteps(steps.clean, steps.build, steps.exec, steps.build_log,
                                    steps.timeout)  # fmt: skip
        try:
            async with contextlib.aclosing(self._node.run_batch(kernel_id, node_steps)) as outputs:
                async for output in outputs:
                    yield RunOutput(output.kind, output.text, output.exit_code)
        except NodeAgentError as exc:
            raise _translate(exc) from exc

    async def run_query(
        self,
        kernel_id: uuid.UUID,
        code: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the cell's limit
    ) -> AsyncIterator[RunOutput]:
        try:
            async with contextlib.aclosing(
                self._node.run_query(kernel_id, code, timeout)
            ) as outputs:
                async for o in outputs:
                    yield RunOutput(o.kind, o.text, o.exit_code, o.mime, o.password)
        except NodeAgentError as exc:
            raise _translate(exc) from exc

    async def send_input(self, kernel_id: uuid.UUID, text: str) -> None:
        await _call(lambda: self._node.send_input(kernel_id, text))

    async def complete(
        self, kernel_id: uuid.UUID, code: str, options: Mapping[str, Any] | None
    ) -> list[str]:
        return await _call(lambda: self._node.complete(kernel_id, code, options))

    async def interrupt(self, kernel_id: uuid.UUID) -> None:
        await _call(lambda: self._node.interrupt(kernel_id))

    async def stats(self, kernel_id: uuid.UUID) -> KernelStats:
        stats = await _call(lambda: self._node.stats(kernel_id))
        return KernelStats(**asdict(stats))

    async def logs(self, kernel_id: uuid.UUID) -> str:
        return await _call(lambda: self._node.logs(kernel_id))

    async def upload(self, kernel_id: uuid.UUID, files: Sequence[tuple[str, bytes]]) -> None:
        await _call(lambda: self._node.upload(kernel_id, list(files)))

    async def download(self, kernel_id: uuid.UUID, paths: Sequence[str]) -> list[bytes]:
        return await _call(lambda: self._node.download(kernel_id, list(paths)))

    async def list_files(self, kernel_id: uuid.UUID, path: str) -> tuple[str, list[FileEntry]]:
        abspath, entries = await _call(lambda: self._node.list_files(kernel_id, path))
        return abspath, [FileEntry(**asdict(e)) for e in entries]

    async def shutdown(self) -> None:
        await _call(self._node.shutdown)

    async def output_files(self, kernel_id: uuid.UUID) -> list[str]:
        return await _call(lambda: self._node.output_files(kernel_id))

    async def open_app(self, kernel_id: uuid.UUID, app: str) -> AppStream:
        return await _call(lambda: self._node.open_app(kernel_id, app))

    async def open_terminal(self, kernel_id: uuid.UUID) -> TerminalStream:
        return await _call(lambda: self._node.open_terminal(kernel_id))


async def build_embedded_agent(
    settings: Settings,
) -> tuple[LocalAgentClient, list[uuid.UUID]] | None:
    """The embedded agent per settings and the kernels it took over from the server's last
    run, or None when disabled or the sandbox is unusable. The kernel pool starts filling."""
    node = build_node(settings)
    if node is None:
        return None
    try:
        running = await node.recover()
    except NodeAgentError as exc:
        raise _translate(exc) from exc
    warm_pool(node)
    return LocalAgentClient(node), running
