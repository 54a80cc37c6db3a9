"""The node's access to a kernel from outside: its stats and console log, its service
apps, ports and terminal, and the files under /home/work."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence

from hangar.agent import files as home_files
from hangar.agent.console import ConsoleLog
from hangar.agent.errors import KernelNotFound
from hangar.agent.models import ContainerStats, FileEntry
from hangar.agent.node_errors import FileTooLarge, UnknownKernel
from hangar.agent.node_state import NodeState
from hangar.agent.services.pty import PtyClient
from hangar.agent.services.streams import ProcessStream, SocketStream


class NodeAccess(NodeState):
    """Part of :class:`~hangar.agent.node.Node`: what clients reach in its kernels."""

    async def stats(self, kernel_id: uuid.UUID) -> ContainerStats:
        """Usage so far. Raises UnknownKernel."""
        kernel = self._get(kernel_id)
        try:
            return await self.runtime.stats(kernel.spec.kernel_id)
        except KernelNotFound as exc:
            raise UnknownKernel(f"No such kernel: {kernel_id}") from exc

    async def logs(self, kernel_id: uuid.UUID) -> str:
        """The console log (bootstrap, batch and query output, its last ~1 MiB), also after the
        kernel is gone. Raises UnknownKernel when there never was one."""
        key = str(kernel_id)
        kernel = self._kernels.get(key)
        console = kernel.console if kernel is not None else ConsoleLog(self._log_path(key))
        if kernel is None and not await asyncio.to_thread(console.exists):
            raise UnknownKernel(f"No such kernel: {kernel_id}")
        return await asyncio.to_thread(console.read)

    async def open_app(self, kernel_id: uuid.UUID, app: str) -> SocketStream | ProcessStream:
        """A new connection to the kernel's service ``app`` (see :mod:`hangar.agent.services`),
        started if needed. Raises UnknownKernel, UnknownApp, AppLaunchFailed."""
        kernel = self._get(kernel_id)
        try:
            return await self.services.open_app(kernel.spec.kernel_id, app)
        except KernelNotFound as exc:
            raise UnknownKernel(f"No such kernel: {kernel_id}") from exc

    async def connect_port(self, kernel_id: uuid.UUID, port: int) -> SocketStream:
        """A TCP connection to ``port`` of the kernel, made inside its network (the only way
        in: a session's ports are not reachable from the host). Raises UnknownKernel,
        UnknownApp (bad port), AppLaunchFailed (nothing listens there)."""
        kernel = self._get(kernel_id)
        try:
            return await self.services.open_port(kernel.spec.kernel_id, port)
        except KernelNotFound as exc:
            raise UnknownKernel(f"No such kernel: {kernel_id}") from exc

    async def open_terminal(self, kernel_id: uuid.UUID) -> PtyClient:
        """Attach to the kernel's shared shell on a pty. Raises UnknownKernel,
        AppLaunchFailed."""
        kernel = self._get(kernel_id)
        try:
            return await self.services.open_terminal(kernel.spec.kernel_id)
        except KernelNotFound as exc:
            raise UnknownKernel(f"No such kernel: {kernel_id}") from exc

    async def upload(self, kernel_id: uuid.UUID, files: Sequence[tuple[str, bytes]]) -> None:
        """Write each (path, data) under /home/work: parents created, files overwritten,
        owned by the work user. Every path and size is checked before anything is written.
        Raises UnknownKernel, PathEscapes, FileTooLarge, FileError."""
        scratch = self._get(kernel_id).spec.scratch_dir
        for path, data in files:
            home_files.parse_path(path)
            if len(data) > self.limits.max_upload_bytes:
                raise FileTooLarge("Too large file")
        for path, data in files:
            await asyncio.to_thread(
                home_files.write_file,
                scratch,
                path,
                data,
                owner=self._owner,
                max_bytes=self.limits.max_upload_bytes,
            )

    async def download(self, kernel_id: uuid.UUID, paths: Sequence[str]) -> list[bytes]:
        """One uncompressed tar per path, holding it under its basename (directories
        recursively). Raises UnknownKernel, PathEscapes, FileMissing, FileTooLarge."""
        scratch = self._get(kernel_id).spec.scratch_dir
        limit = self.limits.max_download_bytes
        return [
            await asyncio.to_thread(home_files.archive, scratch, path, max_bytes=limit)
            for path in paths
        ]

    async def list_files(self, kernel_id: uuid.UUID, path: str) -> tuple[str, list[FileEntry]]:
        """(absolute path in the sandbox, its entries), not recursive. Raises UnknownKernel,
        PathEscapes, FileMissing, NotADirectory."""
        scratch = self._get(kernel_id).spec.scratch_dir
        return await asyncio.to_thread(home_files.list_dir, scratch, path)

    async def output_files(self, kernel_id: uuid.UUID) -> list[str]:
        """Regular files under /home/work/.output (relative names, sorted; [] if none).
        Raises UnknownKernel."""
        scratch = self._get(kernel_id).spec.scratch_dir
        # the usual case, no such directory, costs one lstat: not worth a thread hop
        if not os.path.lexists(scratch / home_files.OUTPUT_DIR):  # noqa: ASYNC240
            return []
        return await asyncio.to_thread(home_files.output_names, scratch)
