"""Starting a child with piped output without blocking the event loop for long.

``loop.subprocess_exec`` on uvloop (the server's loop) starts children with ``fork()``, which
copies the page tables of the whole server: ~10 ms for a 150 MB process, with the event loop
(every request) stopped meanwhile. ``subprocess.Popen`` starts them with ``vfork()``, ~1 ms
whatever the size. Here the child is started with Popen, its pipes are put on the running
loop as streams, and its exit is watched through a pidfd (no SIGCHLD handler, no thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence

STREAM_LIMIT = 2**16


class _Output(asyncio.StreamReaderProtocol):
    """A stream reader's protocol that also says when its pipe closed."""

    def __init__(self, reader: asyncio.StreamReader, closed: Callable[[], None]) -> None:
        super().__init__(reader)
        self._on_close = closed

    def eof_received(self) -> bool:
        super().eof_received()
        return False  # close the pipe (uvloop keeps a transport open on True)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._on_close()


class PipedProcess:
    """A started child: ``pid``, ``stdin`` (a writer, or None), ``stdout`` and ``stderr``
    (readers), and ``returncode`` once it ended (negative: killed by that signal)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.pid = popen.pid
        self.stdin: asyncio.StreamWriter | None = None
        self.stdout: asyncio.StreamReader | None = None
        self.stderr: asyncio.StreamReader | None = None
        self._popen = popen

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def reap(self) -> bool:
        """Collect the exit status if the child ended; whether it did."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is lost
            self._popen.returncode = 255
            return True
        if pid == 0:
            return False
        self._popen.returncode = os.waitstatus_to_exitcode(status)
        return True


async def start_piped(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: str, stdin_pipe: bool
) -> tuple[PipedProcess, asyncio.Future[None], asyncio.Future[None]]:
    """Start ``argv`` in a new session; returns the process, a future resolved when it has
    ended (its ``returncode`` is set) and one resolved when stdout and stderr have both
    reached end of file. Raises OSError when it cannot be started."""
    loop = asyncio.get_running_loop()
    popen = subprocess.Popen(  # noqa: ASYNC220 - vfork, ~1 ms: less than subprocess_exec
        list(argv), stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env), cwd=cwd,
        start_new_session=True,
    )  # fmt: skip
    process = PipedProcess(popen)
    exited: asyncio.Future[None] = loop.create_future()
    drained: asyncio.Future[None] = loop.create_future()
    open_outputs = {"stdout", "stderr"}

    def closed(name: str) -> Callable[[], None]:
        def close() -> None:
            open_outputs.discard(name)
            if not open_outputs and not drained.done():
                drained.set_result(None)

        return close

    connecting: asyncio.Future[list[asyncio.BaseTransport]] | None = None
    try:
        _watch_exit(loop, process, exited)
        connecting = asyncio.ensure_future(_connect(loop, popen, process, closed))
        await asyncio.shield(connecting)
    except BaseException:
        await _abandon(connecting)
        with contextlib.suppress(ProcessLookupError):
            popen.kill()
        raise
    return process, exited, drained


async def _connect(
    loop: asyncio.AbstractEventLoop,
    popen: subprocess.Popen[bytes],
    process: PipedProcess,
    closed: Callable[[str], Callable[[], None]],
) -> list[asyncio.BaseTransport]:
    """Put the child's pipes on the loop as ``process``'s streams; returns the transports."""
    assert popen.stdout is not None and popen.stderr is not None
    process.stdout = asyncio.StreamReader(STREAM_LIMIT, loop)
    process.stderr = asyncio.StreamReader(STREAM_LIMIT, loop)
    reader, errors = process.stdout, process.stderr
    out, _ = await loop.connect_read_pipe(lambda: _Output(reader, closed("stdout")), popen.stdout)
    err, _ = await loop.connect_read_pipe(lambda: _Output(errors, closed("stderr")), popen.stderr)
    transports: list[asyncio.BaseTransport] = [out, err]
    if popen.stdin is not None:
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, popen.stdin
        )
        transports.append(transport)
        process.stdin = asyncio.StreamWriter(transport, protocol, None, loop)
    return transports


async def _abandon(connecting: asyncio.Future[list[asyncio.BaseTransport]] | None) -> None:
    """After a failed or cancelled start: let the pipes' connection finish, then close its
    transports. Not cancelled half-way: uvloop closes a descriptor whose connection was
    cancelled while its file object, which still owns it, closes it again later, by then
    maybe another one's; a closed descriptor must never stay watched either."""
    if connecting is None:
        return
    with contextlib.suppress(BaseException):
        await connecting
    if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
        for transport in connecting.result():
            transport.close()


async def wait_exit(popen: subprocess.Popen[bytes]) -> int:
    """The exit status of ``popen`` (a child of this process), waited for through a pidfd:
    no thread, no SIGCHLD handler. Cancelling the wait leaves the child running."""
    if popen.poll() is not None:
        return popen.returncode
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()
    pidfd = os.pidfd_open(popen.pid)

    def check() -> None:
        if popen.poll() is not None and not ended.done():
            ended.set_result(None)

    loop.add_reader(pidfd, check)
    try:
        check()  # it may have ended before the pidfd was watched
        await ended
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return popen.returncode


def _watch_exit(
    loop: asyncio.AbstractEventLoop, process: PipedProcess, exited: asyncio.Future[None]
) -> None:
    pidfd = os.pidfd_open(process.pid)

    def check() -> None:
        if not process.reap():
            return
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, check)
