"""The kernel's shared terminal: one interactive shell on a pseudo-terminal per kernel.

The shell runs in the sandbox as the work user (the runtime's command, started by ``setsid -c``
so the terminal becomes its controlling tty and job control works). Every attached client sees
its output from the moment it attaches; any client may type, resize or restart it. The shell
outlives its clients and ends with the kernel (or when the user exits it: the clients are then
told the stream ended, and the next attach starts a new shell).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Mapping, Sequence

QUEUE_CHUNKS = 4096
SETSID = "/usr/bin/setsid"


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyShell:
    """A shell on a pty. ``argv``/``env`` start it in the sandbox (the runtime's command)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self._argv, self._env = list(argv), dict(env)
        self._clients: set[PtyClient] = set()
        self._master: int | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._size = (24, 80)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the shell. Raises OSError."""
        master, slave = os.openpty()
        try:
            _set_size(slave, *self._size)
            self._process = await asyncio.create_subprocess_exec(
                SETSID, "-c", *self._argv, stdin=slave, stdout=slave, stderr=slave,
                env=self._env, cwd="/",
            )  # fmt: skip
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        asyncio.get_running_loop().add_reader(master, self._on_output, master)

    def attach(self) -> PtyClient:
        client = PtyClient(self)
        self._clients.add(client)
        return client

    def detach(self, client: PtyClient) -> None:
        self._clients.discard(client)

    def _on_output(self, master: int) -> None:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every process holding the terminal has gone
            data = b""
        if not data:
            self._close_master(master)
            for client in list(self._clients):
                client.feed(b"")
            return
        for client in list(self._clients):
            client.feed(data)

    def _close_master(self, master: int) -> None:
        if self._master == master:
            asyncio.get_running_loop().remove_reader(master)
            os.close(master)
            self._master = None

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self._master is not None:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.01)
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                return

    def resize(self, rows: int, cols: int) -> None:
        """Set the window size; the kernel signals SIGWINCH to the foreground job."""
        self._size = (rows, cols)
        if self._master is not None:
            _set_size(self._master, rows, cols)

    async def stop(self) -> None:
        """Kill the shell and everything in its sandbox (bwrap takes its sandbox along)."""
        process, master = self._process, self._master
        if master is not None:
            self._close_master(master)
        for client in list(self._clients):
            client.feed(b"")
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    async def restart(self) -> None:
        """A new shell in place of the old one; attached clients stay attached."""
        clients = set(self._clients)
        self._clients.clear()  # the old shell's end is not the stream's end
        await self.stop()
        self._clients = clients
        await self.start()


class PtyClient:
    """One attached client: output from a queue, input and control to the shared shell."""

    def __init__(self, shell: PtyShell) -> None:
        self._shell = shell
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_CHUNKS)
        self._closed = False

    def feed(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:  # a client this far behind is dropped, not waited for
            self._closed = True
            self._queue.get_nowait()
            self._queue.put_nowait(b"")

    async def read(self) -> bytes:
        """The next output chunk; b"" when the shell ended or this client fell behind."""
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        await self._shell.write(data)

    async def resize(self, rows: int, cols: int) -> None:
        self._shell.resize(rows, cols)

    async def restart(self) -> None:
        await self._shell.restart()

    async def close(self) -> None:
        self._closed = True
        self._shell.detach(self)
