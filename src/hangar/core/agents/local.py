"""The embedded agent: an in-process ``AgentClient`` over this machine's ``Node``.

Calls pass the agent's own types through (:mod:`hangar.agent.models`); the agent's errors
become core errors the faces know how to render.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from hangar.agent import node_errors
from hangar.agent.build import build_node, warm_pool
from hangar.agent.errors import AgentError as NodeAgentError
from hangar.agent.kernels.jupyter import QueryKernelFailed
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
from hangar.agent.node import Node
from hangar.agent.rpc.client import AgentUnreachable, NodeProxy
from hangar.agent.services import AppLaunchFailed, UnknownApp
from hangar.core.agents.client import AppStream, TerminalStream
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
        return NotFound("service", message)
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

    async def info(self) -> NodeInfo:
        return await _call(self._node.info)

    async def usage(self) -> NodeUsage:
        return await _call(self._node.usage)

    async def image_pull(self, reference: str) -> ImagePull | None:
        return await self._node.image_pull(reference)

    async def create_kernel(self, request: KernelRequest) -> None:
        await _call(lambda: self._node.create_kernel(request))

    async def destroy_kernel(self, kernel_id: uuid.UUID) -> ContainerStats | None:
        return await _call(lambda: self._node.destroy_kernel(kernel_id))

    async def restart_kernel(self, kernel_id: uuid.UUID) -> None:
        await _call(lambda: self._node.restart_kernel(kernel_id))

    async def suspend_kernel(self, kernel_id: uuid.UUID) -> None:
        await _call(lambda: self._node.suspend_kernel(kernel_id))

    async def run_batch(self, kernel_id: uuid.UUID, steps: BatchSteps
                        ) -> AsyncIterator[RunOutput]:  # fmt: skip
        try:
            async with contextlib.aclosing(self._node.run_batch(kernel_id, steps)) as outputs:
                async for output in outputs:
                    yield output
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
                async for output in outputs:
                    yield output
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

    async def stats(self, kernel_id: uuid.UUID) -> ContainerStats:
        return await _call(lambda: self._node.stats(kernel_id))

    async def logs(self, kernel_id: uuid.UUID) -> str:
        return await _call(lambda: self._node.logs(kernel_id))

    async def upload(self, kernel_id: uuid.UUID, files: Sequence[tuple[str, bytes]]) -> None:
        await _call(lambda: self._node.upload(kernel_id, list(files)))

    async def download(self, kernel_id: uuid.UUID, paths: Sequence[str]) -> list[bytes]:
        return await _call(lambda: self._node.download(kernel_id, list(paths)))

    async def list_files(self, kernel_id: uuid.UUID, path: str) -> tuple[str, list[FileEntry]]:
        return await _call(lambda: self._node.list_files(kernel_id, path))

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
