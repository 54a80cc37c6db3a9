"""One ipykernel process in a kernel's sandbox, and the cells run in it.

The kernel is an ordinary sandboxed process (``KernelRuntime.run``), so it shares the
session's /home/work, limits and user, and dies with the session. Messages are routed by
their parent message id: every request registers a queue, and four reader tasks (shell,
IOPub, stdin, control) put what answers it there. Completion and interrupts travel on the
control channel, which ipykernel serves on its own thread: both work while a cell runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient

from hangar.agent.errors import AgentError
from hangar.agent.kernels.connect import kernel_context
from hangar.agent.kernels.launcher import READY_MARK, Connection, launcher_argv
from hangar.agent.kernels.messages import output_records
from hangar.agent.models import RunOutput
from hangar.agent.node_errors import NodeError
from hangar.agent.runtimes.base import KernelRuntime, RunningProcess, TerminationReason
from hangar.agent.runtimes.process import OOM_KILLED

log = logging.getLogger("hangar.agent.kernels")
TAIL_BYTES = 4096
# ipykernel's debugger warns about frozen modules on every start otherwise.
KERNEL_ENV = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}
# Output printed before input() travels on another socket than the request for input; it is
# given this long to arrive first, so the prompt follows it in the console.
INPUT_SETTLE = 0.03
KEEP_NAME = "query"  # the kernel process outlives the agent (KernelRuntime.run's keep)
Routed = tuple[str, dict[str, Any]]  # (channel, message); ("died", {}) when the kernel ended


class QueryKernelFailed(NodeError):
    """The session's Jupyter kernel could not be started or stopped answering."""


class QueryKernel:
    """A running ipykernel. Build it with :meth:`start`; one cell at a time (the caller
    serialises runs); :meth:`send_input`, :meth:`interrupt` and :meth:`complete` may be
    called at any time."""

    def __init__(
        self,
        process: RunningProcess,
        connection: Connection,
        tail: deque[bytes],
        context: zmq.asyncio.Context | None = None,
    ):
        """``context``: the kernel's own (:func:`~.connect.kernel_context`, it connects
        inside the kernel's network and is destroyed by :meth:`close`), or None."""
        self.process, self.connection, self._tail = process, connection, tail
        self.context = context
        self.client = AsyncKernelClient(context=context or zmq.asyncio.Context.instance())
        self.client.load_connection_info(connection.info())
        self.client.start_channels(hb=False)
        self._listeners: dict[str, asyncio.Queue[Routed]] = {}
        self._inputs: deque[str] = deque()
        self._waiting_input = False
        self._failure = ""  # the running cell's exception, "Name: value" (or "")
        self.broken = False  # set when the kernel died or would not stop a cell
        self._tasks = [
            asyncio.create_task(self._read(name)) for name in ("shell", "iopub", "stdin", "control")
        ]
        self._tasks.append(asyncio.create_task(self._watch()))

    # -- start and stop -----------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        runtime: KernelRuntime,
        kernel_id: str,
        interpreter: str,
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 - the kernel's start-up limit
    ) -> QueryKernel:
        """Start ipykernel with ``interpreter`` in kernel ``kernel_id`` and wait until it
        answers. Raises QueryKernelFailed (nothing is left running) or KernelNotFound."""
        connection = Connection.new()
        argv = launcher_argv(interpreter)
        process = await runtime.run(
            kernel_id, argv, env=KERNEL_ENV, stdin=connection.request(), keep=KEEP_NAME
        )
        tail: deque[bytes] = deque(maxlen=64)
        drain_err = asyncio.create_task(_drain(process.stderr, tail))
        kernel: QueryKernel | None = None
        try:
            async with asyncio.timeout(timeout):
                ready = await _ready_line(process)
                if ready is None:
                    await process.wait()
                    await asyncio.sleep(0)
                    raise QueryKernelFailed(_died_message(process, tail))
                kernel = await cls._connect(runtime, kernel_id, process, ready, connection, tail)
                kernel._tasks += [drain_err, asyncio.create_task(_drain(process.stdout, tail))]
                await kernel._handshake()
                return kernel
        except BaseException as exc:
            process.kill()
            drain_err.cancel()
            if kernel is not None:
                await kernel.close()
            if isinstance(exc, QueryKernelFailed) or not isinstance(
                exc, TimeoutError | ValueError | OSError | AgentError
            ):
                raise
            raise QueryKernelFailed(f"the Jupyter kernel did not start: {exc!r}") from exc

    @classmethod
    async def _connect(
        cls,
        runtime: KernelRuntime,
        kernel_id: str,
        process: RunningProcess,
        ready: str | None,
        connection: Connection,
        tail: deque[bytes],
    ) -> QueryKernel:
        """The client of a kernel that listens (``ready``: the launcher's ready line, None
        when ``connection`` has the ports already): one way for :meth:`start` and
        :meth:`attach`."""
        context = await kernel_context(runtime.netns(kernel_id))
        ports = connection.with_ports(ready) if ready is not None else connection
        return cls(process, ports, tail, context)

    @classmethod
    async def attach(
        cls,
        runtime: KernelRuntime,
        kernel_id: str,
        process: RunningProcess,
        connection: Connection,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - how long it may take to answer
    ) -> QueryKernel:
        """The running kernel ``process`` (started by an earlier agent) at ``connection``,
        once it answers. Raises QueryKernelFailed (the process is then left alone)."""
        tail: deque[bytes] = deque(maxlen=64)
        kernel = await cls._connect(runtime, kernel_id, process, None, connection, tail)
        kernel._tasks += [
            asyncio.create_task(_drain(process.stderr, tail)),
            asyncio.create_task(_drain(process.stdout, tail)),
        ]
        try:
            async with asyncio.timeout(timeout):
                await kernel._handshake()
        except BaseException as exc:
            await kernel.close(kill=False)
            if isinstance(exc, TimeoutError | QueryKernelFailed):
                raise QueryKernelFailed(f"the Jupyter kernel does not answer: {exc!r}") from exc
            raise
        return kernel

    async def _handshake(self) -> None:
        """Wait for a kernel_info reply and its IOPub status: then output is not lost
        (a subscription made too late would drop a first cell's output)."""
        while True:
            msg_id = self.client.kernel_info()
            queue = self._listen(msg_id)
            try:
                if await self._answered(queue):
                    return
            finally:
                self._listeners.pop(msg_id, None)

    async def _answered(self, queue: asyncio.Queue[Routed]) -> bool:
        """True once both the reply and an IOPub message arrived; False when IOPub stays
        silent for a moment after the reply (ask again)."""
        seen: set[str] = set()
        limit: float | None = None
        while seen != {"shell", "iopub"}:
            try:
                async with asyncio.timeout(limit):
                    channel, _ = await queue.get()
            except TimeoutError:
                return False
            if channel == "died":
                raise QueryKernelFailed(_died_message(self.process, self._tail))
            seen.add(channel)
            limit = 0.25 if "shell" in seen else None
        return True

    async def close(self, *, kill: bool = True) -> None:
        """Stop the kernel process (``kill`` False: leave it running for a later agent) and
        the channels. Idempotent."""
        self.broken = True
        if kill:
            self.process.kill()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.client.stop_channels()
        if self.context is not None:
            self.context.destroy(linger=0)

    # -- routing ------------------------------------------------------------------------

    def _listen(self, msg_id: str) -> asyncio.Queue[Routed]:
        queue: asyncio.Queue[Routed] = asyncio.Queue()
        self._listeners[msg_id] = queue
        return queue

    async def _read(self, name: str) -> None:
        channel = getattr(self.client, f"{name}_channel")
        while True:
            try:
                msg = await channel.get_msg()
            except (zmq.ZMQError, ValueError) as exc:  # bad signature, closed socket
                log.debug("dropped a %s message: %s", name, exc)
                continue
            parent = (msg.get("parent_header") or {}).get("msg_id")
            queue = self._listeners.get(parent) if parent else None
            if queue is not None:
                queue.put_nowait((name, msg))

    async def _watch(self) -> None:
        await self.process.wait()
        self.broken = True
        for queue in list(self._listeners.values()):
            queue.put_nowait(("died", {}))

    # -- cells --------------------------------------------------------------------------

    async def execute(
        self,
        code: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the cell's limit
        grace: float = 2.0,
    ) -> AsyncGenerator[RunOutput, None]:
        """Run one cell: yield its console records, ``waiting-input`` when it reads stdin,
        and end with ``finished`` (0, also after an exception; 1 if the kernel died) or
        ``exec-timeout`` (the cell was interrupted after ``timeout`` seconds; if it did not
        stop within ``grace``, the kernel is killed and :attr:`broken`)."""
        if self.broken:
            raise QueryKernelFailed("the Jupyter kernel is not running")
        msg_id = self.client.execute(code, allow_stdin=True, stop_on_error=False)
        queue = self._listen(msg_id)
        self._failure = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout and timeout > 0 else None
        timed_out = False
        asked: dict[str, Any] | None = None  # an input request held until output settles
        settle = 0.0
        try:
            while True:
                wake = deadline if asked is None else min(deadline or settle, settle)
                try:
                    async with asyncio.timeout_at(wake):
                        channel, msg = await queue.get()
                except TimeoutError:
                    if asked is not None and (deadline is None or settle < deadline):
                        for record in self._records("stdin", asked):
                            yield record
                        asked = None
                        continue
                    if timed_out:  # the interrupt did not stop the cell
                        await self.close()
                        yield RunOutput("exec-timeout")
                        return
                    timed_out, deadline = True, loop.time() + grace
                    self.interrupt()
                    continue
                if channel == "stdin":
                    asked, settle = msg, loop.time() + INPUT_SETTLE
                    continue
                if channel == "died":
                    died = await _death_message(self.process, self._tail)
                    yield RunOutput("stderr", "\n[hangar] " + died)
                    yield RunOutput("finished", exit_code=1)
                    return
                for record in self._records(channel, msg):
                    yield record
                if channel == "iopub" and _is_idle(msg):
                    yield (
                        RunOutput("exec-timeout")
                        if timed_out
                        else RunOutput("finished", self._failure, exit_code=0)
                    )
                    return
        finally:
            self._listeners.pop(msg_id, None)
            self._waiting_input = False

    def _records(self, channel: str, msg: dict[str, Any]) -> list[RunOutput]:
        msg_type = msg.get("msg_type") or msg.get("header", {}).get("msg_type", "")
        content: Mapping[str, Any] = msg.get("content") or {}
        if channel == "iopub":
            if msg_type == "error":  # the wire's exit code stays 0; clients may tell
                self._failure = f"{content.get('ename')}: {content.get('evalue')}"
            return output_records(msg_type, content)
        if channel == "stdin" and msg_type == "input_request":
            if self._inputs:
                self.client.input(self._inputs.popleft())
                return []
            self._waiting_input = True
            prompt = str(content.get("prompt") or "")
            password = bool(content.get("password"))
            waiting = RunOutput("waiting-input", prompt, password=password)
            return [RunOutput("stdout", prompt), waiting] if prompt else [waiting]
        return []

    def send_input(self, text: str) -> None:
        """Answer the pending ``input()``; kept for the next one if none is pending."""
        if self._waiting_input and not self.broken:
            self._waiting_input = False
            self.client.input(text)
        else:
            self._inputs.append(text)

    def interrupt(self) -> None:
        """Ask the kernel to interrupt the running cell (``KeyboardInterrupt``)."""
        if not self.broken:
            self.client.control_channel.send(self.client.session.msg("interrupt_request", {}))

    async def complete(self, code: str, cursor: int, timeout: float = 3.0) -> list[str]:  # noqa: ASYNC109
        """Completion candidates at ``cursor`` in ``code``; [] when the kernel does not
        answer in ``timeout`` seconds."""
        if self.broken:
            return []
        msg = self.client.session.msg("complete_request", {"code": code, "cursor_pos": cursor})
        msg_id = msg["header"]["msg_id"]
        queue = self._listen(msg_id)
        self.client.control_channel.send(msg)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    channel, reply = await queue.get()
                    if channel == "died":
                        return []
                    if channel == "control":
                        matches = (reply.get("content") or {}).get("matches") or []
                        return [str(m) for m in matches]
        except TimeoutError:
            return []
        finally:
            self._listeners.pop(msg_id, None)
        return []  # pragma: no cover - the loop only ends by returning

    async def run_silently(self, code: str) -> None:
        """Run ``code`` without output or history (session set-up)."""
        msg_id = self.client.execute(code, silent=True, store_history=False)
        queue = self._listen(msg_id)
        try:
            while True:
                channel, msg = await queue.get()
                if channel == "died":
                    raise QueryKernelFailed(_died_message(self.process, self._tail))
                if channel == "shell":
                    return
        finally:
            self._listeners.pop(msg_id, None)


def _is_idle(msg: dict[str, Any]) -> bool:
    return msg.get("msg_type") == "status" and msg["content"].get("execution_state") == "idle"


async def _ready_line(process: RunningProcess) -> str | None:
    """The launcher's ready line, or None when stdout ended first."""
    while line := await process.stdout.readline():
        text = line.decode(errors="replace").strip()
        if text.startswith(READY_MARK):
            return text
    return None


async def _drain(stream: asyncio.StreamReader, tail: deque[bytes]) -> None:
    """Keep reading a pipe the kernel writes diagnostics to; remember the last lines."""
    while line := await stream.readline():
        tail.append(line[-TAIL_BYTES:])


async def _death_message(process: RunningProcess, tail: deque[bytes]) -> str:
    """Why a kernel died in a cell: its memory limit (as batch runs say), else its output."""
    status = await process.wait()
    if status.reason is TerminationReason.MEMORY_LIMIT:
        return status.message.removesuffix(OOM_KILLED) + "; the kernel was restarted\n"
    return _died_message(process, tail)


def _died_message(process: RunningProcess, tail: deque[bytes]) -> str:
    detail = b"".join(tail).decode(errors="replace")[-TAIL_BYTES:].strip()
    hint = " (is ipykernel installed for the image's interpreter?)"
    if "ipykernel" not in detail or "No module named" not in detail:
        hint = ""
    return f"the Jupyter kernel exited{hint}: {detail or 'no output'}\n"
