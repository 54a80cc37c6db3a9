"""Byte streams to a kernel's services: a Unix socket, or a per-connection process's pipes.

Each offers ``read`` (b"" at the end), ``write`` and ``close`` (idempotent), which is what the
core's ``AppStream`` protocol asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from pathlib import Path

from hangar.agent.runtimes.base import RunningProcess

CHUNK = 64 * 1024


class SocketStream:
    """A connection to a service's Unix socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self) -> bytes:
        try:
            return await self._reader.read(CHUNK)
        except ConnectionError:
            return b""

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class ProcessStream:
    """A process that speaks the protocol on stdin/stdout (``sshd -i``); closing kills it."""

    def __init__(self, process: RunningProcess) -> None:
        assert process.stdin is not None
        self._process, self._stdin = process, process.stdin
        self._stderr = asyncio.create_task(process.stderr.read())  # keep the pipe drained

    async def read(self) -> bytes:
        return await self._process.stdout.read(CHUNK)

    async def write(self, data: bytes) -> None:
        self._stdin.write(data)
        await self._stdin.drain()

    async def close(self) -> None:
        self._process.kill()
        await self._process.wait()
        self._stderr.cancel()


async def connect_socket(directory: Path, name: str) -> SocketStream:
    """Connect to the socket ``directory/name`` without following a link the sandbox may have
    put in its place (the socket is opened as an O_PATH handle first). Raises OSError."""
    fd = os.open(directory / name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise ConnectionRefusedError(f"{name} is not a socket")
        reader, writer = await asyncio.open_unix_connection(f"/proc/self/fd/{fd}", limit=CHUNK)
    finally:
        os.close(fd)
    return SocketStream(reader, writer)
