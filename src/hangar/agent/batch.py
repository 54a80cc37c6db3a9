"""Batch runs: clean -> build -> exec as ``bash -c`` steps in /home/work.

``plan`` turns the requested steps into commands (``"*"`` = the image default), ``outcome``
decides what a finished step means for the run (pure), and :class:`BatchRunner` starts the
steps in a kernel, streams their output as it arrives and enforces the run's time limit.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from hangar.agent.models import BatchSteps, OutputKind, RunOutput
from hangar.agent.node_errors import NodeError
from hangar.agent.records import RUN_PROCESS
from hangar.agent.runtimes.base import (
    ExitStatus,
    KernelRuntime,
    RunningProcess,
    TerminationReason,
)

StepName = Literal["clean", "build", "exec"]
Stream = Literal["stdout", "stderr"]
BUILD_FAILED = 127
MEMORY_KILLED = 137
SHELL = "/bin/bash"

# The user install lands in this kernel's own ~/.local, so PEP 668's guard (Debian marks
# the system Python externally managed) protects nothing here.
DEFAULT_BUILD = (
    "if [ -f setup.py ] || [ -f pyproject.toml ]; then "
    "PIP_BREAK_SYSTEM_PACKAGES=1 exec python -m pip install --user -e .; fi"
)
DEFAULT_EXEC = (
    "if [ -f main.py ]; then exec python main.py; fi; "
    'echo "main.py not found in /home/work: nothing to execute" >&2; exit 127'
)
NO_DEFAULT_EXEC = 'echo "this image has no default exec command; give one" >&2; exit 127'
_FINISHED: dict[StepName, OutputKind] = {"clean": "clean-finished", "build": "build-finished"}
Chunk = tuple[Stream, bytes]


@dataclass(frozen=True, slots=True)
class Step:
    """One step to run: its name and shell command."""

    name: StepName
    command: str


def plan(steps: BatchSteps, *, python: bool) -> list[Step]:
    """The steps to run in order. None/"" skips a step; "*" takes the default: clean does
    nothing, build installs a Python project if there is one (Python images only), exec runs
    ``python main.py`` (127 with a message where there is none)."""
    defaults: dict[StepName, str | None] = {
        "clean": None,
        "build": DEFAULT_BUILD if python else None,
        "exec": DEFAULT_EXEC if python else NO_DEFAULT_EXEC,
    }
    requested: tuple[tuple[StepName, str | None], ...] = (
        ("clean", steps.clean),
        ("build", steps.build),
        ("exec", steps.exec),
    )
    chosen: list[Step] = []
    for name, command in requested:
        resolved = defaults[name] if command == "*" else command
        if resolved:
            chosen.append(Step(name, resolved))
    return chosen


def outcome(step: StepName, status: ExitStatus, stopping: bool) -> tuple[list[RunOutput], bool]:
    """Records to emit after ``step`` ended with ``status``, and whether the run ends.

    A timeout ends the run with ``exec-timeout``; a memory kill adds a stderr note and ends
    with 137; a failed build ends with 127; ``stopping`` (interrupt, restart, destroy) ends
    the run after the current step with its exit code.
    """
    if status.reason is TerminationReason.TIMED_OUT:
        return [RunOutput("exec-timeout")], True
    code = status.exit_code
    records: list[RunOutput] = []
    if status.reason is TerminationReason.MEMORY_LIMIT:
        records.append(RunOutput("stderr", f"\n{status.message}\n"))
        code = MEMORY_KILLED
    if step == "exec":
        return [*records, RunOutput("finished", exit_code=code)], True
    records.append(RunOutput(_FINISHED[step], exit_code=code))
    if step == "build" and code != 0 and code != MEMORY_KILLED:
        return [*records, RunOutput("finished", exit_code=BUILD_FAILED)], True
    if stopping or code == MEMORY_KILLED:
        return [*records, RunOutput("finished", exit_code=code)], True
    return records, False


async def _pump(
    kind: Stream, reader: asyncio.StreamReader, queue: asyncio.Queue[Chunk | None]
) -> None:
    try:
        while data := await reader.read(1 << 16):
            queue.put_nowait((kind, data))
    finally:
        queue.put_nowait(None)


async def _reap(process: RunningProcess, pumps: list[asyncio.Task[None]], grace: float) -> None:
    """Stop reading ``grace`` seconds after the process ended (an orphan may hold the
    pipes open; the runtime already waited for them to drain)."""
    await process.wait()
    await asyncio.sleep(grace)
    for pump in pumps:
        pump.cancel()


async def stream_output(
    process: RunningProcess, *, grace: float = 0.5
) -> AsyncGenerator[tuple[Stream, str], None]:
    """Yield (stream, text) chunks of ``process`` in arrival order, decoded as UTF-8."""
    queue: asyncio.Queue[Chunk | None] = asyncio.Queue()
    pumps = [
        asyncio.create_task(_pump("stdout", process.stdout, queue)),
        asyncio.create_task(_pump("stderr", process.stderr, queue)),
    ]
    reaper = asyncio.create_task(_reap(process, pumps, grace))
    decoders: dict[Stream, codecs.IncrementalDecoder] = {
        "stdout": codecs.getincrementaldecoder("utf-8")("replace"),
        "stderr": codecs.getincrementaldecoder("utf-8")("replace"),
    }
    try:
        remaining = len(pumps)
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
                continue
            kind, data = item
            if text := decoders[kind].decode(data):
                yield kind, text
        for kind, decoder in decoders.items():
            if text := decoder.decode(b"", final=True):
                yield kind, text
    finally:
        for task in [*pumps, reaper]:
            task.cancel()


@dataclass
class RunSlot:
    """One run's state the node can act on: the step's process, whether the run was asked
    to stop (interrupt, restart, destroy), the pending escalation of an interrupt."""

    process: RunningProcess | None = None
    stopping: bool = False
    interrupter: asyncio.Task[None] | None = None


Resume = tuple[int, RunningProcess]  # (index of the running step, its process)


class BatchRunner:
    """Runs planned steps in one kernel; ``record`` sees every record (the console log).

    With ``keep`` (a batch session's run) each step is a process that outlives the node
    (``KernelRuntime.run``'s ``keep``), ``keep`` is told the index of each step as it starts,
    and a consumer that goes away leaves the step running (:attr:`left`) instead of killing
    it: a later consumer follows it with ``resume``.
    """

    def __init__(
        self,
        runtime: KernelRuntime,
        kernel_id: str,
        slot: RunSlot,
        record: Callable[[RunOutput], None],
        *,
        keep: Callable[[int], Awaitable[None]] | None = None,
        shell: Sequence[str] = (SHELL,),
    ) -> None:
        self.runtime, self.kernel_id, self.slot, self.record = runtime, kernel_id, slot, record
        self.keep, self.shell = keep, tuple(shell)  # an image's may be sh, or Hangar's own
        self.left: Resume | None = None
        self._index = 0

    async def run(
        self,
        steps: list[Step],
        timeout: float | None,  # noqa: ASYNC109 - the run's limit, enforced by the runtime
        resume: Resume | None = None,
    ) -> AsyncGenerator[RunOutput, None]:
        """Yield the run's records, ending with ``finished`` or ``exec-timeout``; with
        ``resume``, from that step's process on (the steps before it ran already)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout is not None and timeout > 0 else None
        last = 0
        try:
            for index, step in enumerate(steps):
                if resume is not None and index < resume[0]:
                    continue
                if self.slot.stopping:  # interrupted while a record was being consumed
                    break
                left = deadline - loop.time() if deadline is not None else None
                if left is not None and left <= 0:
                    yield self._emit(RunOutput("exec-timeout"))
                    return
                self._index = index
                if resume is not None and index == resume[0]:
                    process = self.slot.process = resume[1]
                else:
                    process = await self._start(step, left)
                async with contextlib.aclosing(stream_output(process)) as chunks:
                    async for kind, text in chunks:
                        yield self._emit(RunOutput(kind, text))
                status = await process.wait()
                self.slot.process = None
                records, done = outcome(step.name, status, self.slot.stopping)
                for record in records:
                    yield self._emit(record)
                if done:
                    return
                last = status.exit_code
            yield self._emit(RunOutput("finished", exit_code=last))
        finally:
            self._stop()

    async def _start(self, step: Step, left: float | None) -> RunningProcess:
        keep = None
        if self.keep is not None:
            await self.keep(self._index)
            keep = RUN_PROCESS
        try:
            process = await self.runtime.run(
                self.kernel_id, [*self.shell, "-c", step.command], timeout=left, keep=keep
            )
        except OSError as exc:
            raise NodeError(f"cannot start the {step.name} step: {exc}") from exc
        self.slot.process = process
        return process

    def _emit(self, record: RunOutput) -> RunOutput:
        self.record(record)
        return record

    def _stop(self) -> None:
        """Kill what is still running (the consumer went away or the run failed); a kept
        step not asked to stop is left running instead."""
        if self.slot.process is not None:
            if self.keep is not None and not self.slot.stopping:
                self.left = (self._index, self.slot.process)
            else:
                self.slot.process.kill()
            self.slot.process = None
        if self.slot.interrupter is not None:
            self.slot.interrupter.cancel()
            self.slot.interrupter = None
