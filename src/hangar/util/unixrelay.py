"""A run's API line: a Unix socket in the run's directory whose every connection is relayed,
byte for byte, to a TCP address (the server's API). The core's executor opens one for runs
on the server's own agent, a remote agent for the runs shipped to it."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import tempfile
from pathlib import Path
from typing import Any

MAX_SOCKET_PATH = 104


def listen_unix(path: Path) -> socket.socket:
    """A listening Unix socket at ``path``. A path longer than a socket address holds (a deep
    data dir) is bound through a short symbolic link to its directory, removed at once."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(str(path).encode()) <= MAX_SOCKET_PATH:
            sock.bind(str(path))
        else:
            short = Path(tempfile.mkdtemp(prefix="hangar-run-"))
            try:
                (short / "d").symlink_to(path.parent)
                sock.bind(str(short / "d" / path.name))
            finally:
                shutil.rmtree(short)
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return sock


def hold_current(tasks: set[asyncio.Task[Any]]) -> None:
    """Keep the running task in ``tasks`` until it ends (a pending task is not collected, and
    its owner can cancel it on close)."""
    current = asyncio.current_task()
    if current is not None:
        tasks.add(current)
        current.add_done_callback(tasks.discard)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def relay_to(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Both ways between a connection and ``host:port`` until either side ends (HTTP has no
    use for a half-closed line: the server would keep its end of a keep-alive connection
    open). Raises OSError when ``host:port`` cannot be reached (the connection is closed)."""
    try:
        up_reader, up_writer = await asyncio.open_connection(host, port, ssl=tls)
    except OSError:
        writer.close()
        raise
    pipes = [asyncio.ensure_future(_pipe(reader, up_writer)),
             asyncio.ensure_future(_pipe(up_reader, writer))]  # fmt: skip
    try:
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pipe in pipes:
            pipe.cancel()
        for w in (writer, up_writer):
            w.close()
