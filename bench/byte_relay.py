"""The floor of any proxy written like the gateway (Python, uvloop, one process): bytes
relayed both ways between a caller on ``127.0.0.1:<port>`` and port ``<target>`` inside the
network namespace ``<netns>``, a new connection per caller, nothing parsed, nothing checked.
``bench/serverless.py alb`` measures it next to the gateway on the same machine.

    .venv/bin/python bench/byte_relay.py /proc/<pid>/ns/net <port> <target>   # as root
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import cast

import uvloop

from hangar.agent.runtimes.network import run_in_netns


class _Up(asyncio.Protocol):
    """The worker's side: what it sends goes to the caller."""

    def __init__(self, down: asyncio.Transport) -> None:
        self.down = down

    def data_received(self, data: bytes) -> None:
        self.down.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.down.close()


class _Down(asyncio.Protocol):
    """The caller's side: a connection into the namespace, then bytes up as they come."""

    def __init__(self, netns: Path, target: int) -> None:
        self.netns, self.target = netns, target
        self.up: asyncio.Transport | None = None
        self.early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.down = cast(asyncio.Transport, transport)  # uvloop's: not the class, its methods
        asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        sock = run_in_netns(self.netns, socket.socket)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", self.target))
        up, _ = await loop.create_connection(lambda: _Up(self.down), sock=sock)
        self.up = up
        for data in self.early:
            up.write(data)

    def data_received(self, data: bytes) -> None:
        if self.up is not None:
            self.up.write(data)
        else:
            self.early.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up is not None:
            self.up.close()


async def serve(netns: Path, port: int, target: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Down(netns, target), "127.0.0.1", port)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
