"""Long-running HTTP services of a kernel (Jupyter, the web terminal), started on first use.

Each listens on a Unix socket in the kernel's ``run`` directory. Starting one takes about half
a second (Jupyter ~0.5 s, the terminal ~0.2 s measured here) and costs tens of MiB per kernel,
so they start on the first connection rather than with every session.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hangar.agent.runtimes.base import KernelRuntime, RunningProcess
from hangar.agent.services.streams import SocketStream, connect_socket

START_TIMEOUT = 30.0
POLL = 0.02


class LaunchFailed(Exception):
    """A service did not come up; the message carries the end of its output."""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """How to run one service: argv inside the sandbox and its socket's name in ``run``."""

    name: str
    argv: tuple[str, ...]
    socket: str


class ServerProcess:
    """One running service and the tail of its output (for error messages)."""

    def __init__(self, spec: ServerSpec, process: RunningProcess, run_dir: Path) -> None:
        self.spec, self.process, self.run_dir = spec, process, run_dir
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        self._drains = [
            asyncio.create_task(self._drain(process.stdout)),
            asyncio.create_task(self._drain(process.stderr)),
        ]
        self._exit = asyncio.create_task(process.wait())

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.tail.append(line.decode(errors="replace").rstrip())

    @property
    def alive(self) -> bool:
        return not self._exit.done()

    async def connect(self) -> SocketStream:
        return await connect_socket(self.run_dir, self.spec.socket)

    async def wait_ready(self, limit: float = START_TIMEOUT) -> SocketStream:
        """Poll the socket until it accepts a connection. Raises LaunchFailed."""
        deadline = time.monotonic() + limit
        while True:
            try:
                return await self.connect()
            except OSError:
                pass
            if not self.alive:
                await asyncio.gather(*self._drains, return_exceptions=True)
                status = self._exit.result()
                raise LaunchFailed(f"{self.spec.name} {status.message}: " + self.output())
            if time.monotonic() > deadline:
                await self.stop()
                raise LaunchFailed(f"{self.spec.name} did not start in {limit:g} s")
            await asyncio.sleep(POLL)

    async def status(self) -> str:
        """How the process ended (waits for it), with the end of its output."""
        ended = await self._exit
        return f"{ended.message}; last output: {self.output()}"

    def output(self) -> str:
        return "\n".join(list(self.tail)[-10:])

    async def stop(self) -> None:
        self.process.kill()
        with contextlib.suppress(Exception):
            await self._exit
        for task in self._drains:
            task.cancel()


async def start_server(
    runtime: KernelRuntime, kernel_id: str, spec: ServerSpec, run_dir: Path
) -> ServerProcess:
    """Start ``spec`` in the kernel (removing a stale socket first). Raises KernelNotFound."""
    with contextlib.suppress(FileNotFoundError):
        (run_dir / spec.socket).unlink()
    process = await runtime.run(kernel_id, list(spec.argv))
    return ServerProcess(spec, process, run_dir)


def jupyter_argv(interpreter: str, socket_path: str) -> Sequence[str]:
    """The classic notebook server on a Unix socket, without a token: the app proxy has
    already authenticated the caller and the socket is private to the kernel."""
    return (
        interpreter, "-m", "notebook", "--no-browser", f"--sock={socket_path}",
        "--sock-mode=0600", "--NotebookApp.token=", "--NotebookApp.password=",
        "--notebook-dir=/home/work",
    )  # fmt: skip
