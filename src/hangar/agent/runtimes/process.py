"""The running-process handle shared by the runtimes, and exit classification."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hangar.agent.runtimes.base import ExitStatus, RunningProcess, TerminationReason
from hangar.agent.runtimes.piped import PipedProcess, start_piped

# (exit code, reason forced by us or None) -> status; the runtime adds OOM and limit notes.
Classifier = Callable[[int, TerminationReason | None], ExitStatus]


def shell_exit_code(returncode: int) -> int:
    """Map asyncio's negative "killed by signal N" return code to the shell's 128+N."""
    return 128 - returncode if returncode < 0 else returncode


OOM_KILLED = "; killed by the OOM killer"  # the end of an OOM kill's message


def _mebibytes(size: int) -> str:
    """``256 MiB``, ``1.5 GiB``: a memory limit as people write it."""
    if size >= 1 << 30:
        return f"{size / (1 << 30):.3g} GiB"
    return f"{size / (1 << 20):.4g} MiB"


def exit_status(
    code: int,
    forced: TerminationReason | None,
    *,
    timeout: float | None,
    oom_killed: bool = False,
    memory_limit: int | None = None,
    notes: tuple[str, ...] = (),
) -> ExitStatus:
    """Build the status: a reason we forced wins, then an OOM kill (``oom_killed``: the
    kernel's OOM counter moved during the run and it died of SIGKILL), then a plain exit."""
    if forced is TerminationReason.TIMED_OUT:
        message = f"time limit of {timeout:g} s exceeded; killed"
        return ExitStatus(code, forced, message, notes)
    if forced is TerminationReason.KILLED:
        return ExitStatus(code, forced, "killed on request", notes)
    if oom_killed and code == 128 + signal.SIGKILL:
        limit = f" ({_mebibytes(memory_limit)})" if memory_limit is not None else ""
        message = f"memory limit exceeded{limit}{OOM_KILLED}"
        return ExitStatus(code, TerminationReason.MEMORY_LIMIT, message, notes)
    return ExitStatus(code, TerminationReason.EXITED, f"exited with code {code}", notes)


# After exit, how long ``wait`` lets the output pipes drain (they close at once unless the
# reader stopped reading with more than the stream limit unread).
PIPE_GRACE = 1.0


@dataclass(frozen=True, slots=True)
class Spawned:
    """A started process with futures for its exit and for the end of its output."""

    process: PipedProcess
    exited: asyncio.Future[None]
    drained: asyncio.Future[None]


async def spawn(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: str, stdin_pipe: bool
) -> Spawned:
    """Start ``argv`` in a new session with piped stdout/stderr (stdin piped or /dev/null).

    Raises OSError when it cannot be started.
    """
    process, exited, drained = await start_piped(argv, env=env, cwd=cwd, stdin_pipe=stdin_pipe)
    return Spawned(process, exited, drained)


class RusageMeter:
    """Approximate per-kernel CPU time and peak RSS from ``RUSAGE_CHILDREN`` deltas around each
    run, for runtimes without cgroup accounting. Concurrent runs of several kernels blur it."""

    def __init__(self) -> None:
        self.cpu_seconds = 0.0
        self.max_rss_bytes = 0

    @staticmethod
    def snapshot() -> resource.struct_rusage:
        return resource.getrusage(resource.RUSAGE_CHILDREN)

    def add(self, before: resource.struct_rusage) -> None:
        """Account everything reaped since ``before`` to this meter."""
        after = self.snapshot()
        self.cpu_seconds += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if after.ru_maxrss > before.ru_maxrss:  # kilobytes on Linux
            self.max_rss_bytes = max(self.max_rss_bytes, after.ru_maxrss * 1024)


class EndingProcess(RunningProcess):
    """What every process handle shares: ``_finished`` (the task that yields the status),
    ``_forced`` (why the agent ended it, if it did) and ``_terminate`` (how to end it)."""

    _finished: asyncio.Task[ExitStatus]
    _forced: TerminationReason | None
    _terminate: Callable[[], None]

    def _expire(self) -> None:
        if self._forced is None and not self._finished.done():
            self._forced = TerminationReason.TIMED_OUT
            self._terminate()

    def kill(self) -> None:
        if self._forced is None and not self._finished.done():
            self._forced = TerminationReason.KILLED
            self._terminate()

    @property
    def done(self) -> bool:
        """True once the process has ended and its status is known."""
        return self._finished.done()

    async def wait(self) -> ExitStatus:
        return await asyncio.shield(self._finished)


class ProcessHandle(EndingProcess):
    """Wraps an asyncio subprocess: feeds stdin, enforces the timeout, classifies the exit.

    ``terminate`` must kill the process and everything it started (SIGKILL); it may run more
    than once. ``on_exit`` runs once, after classification.
    """

    def __init__(
        self,
        spawned: Spawned,
        *,
        classify: Classifier,
        terminate: Callable[[], None],
        timeout: float | None = None,
        stdin_data: bytes | None = None,
        on_exit: Callable[[ProcessHandle], None] | None = None,
    ) -> None:
        process = spawned.process
        assert process.stdout is not None and process.stderr is not None
        self.pid = process.pid
        self.stdout, self.stderr = process.stdout, process.stderr
        self.stdin = process.stdin if stdin_data is None else None
        self._process, self._classify, self._terminate = process, classify, terminate
        self._spawned = spawned
        self._on_exit = on_exit
        self._forced: TerminationReason | None = None
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(timeout, self._expire) if timeout is not None else None
        self._feeder = (
            asyncio.create_task(self._feed(stdin_data)) if stdin_data is not None else None
        )
        self._finished = asyncio.create_task(self._finish())

    async def _feed(self, data: bytes) -> None:
        writer = self._process.stdin
        assert writer is not None
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def _finish(self) -> ExitStatus:
        await self._spawned.exited
        returncode = self._process.returncode
        assert returncode is not None
        if self._timer is not None:
            self._timer.cancel()
        if self._feeder is not None:
            self._feeder.cancel()
        status = self._classify(shell_exit_code(returncode), self._forced)
        if self._on_exit is not None:
            self._on_exit(self)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._spawned.drained), PIPE_GRACE)
        return status
