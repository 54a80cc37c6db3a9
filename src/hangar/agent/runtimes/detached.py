"""Processes that outlive the agent: a supervisor shell per process, output in files.

A *kept* process is started as ``sh -c SUPERVISOR`` in its own session: the shell runs the
sandbox command as its child, then writes the exit status to ``<dir>/exit``. stdout and
stderr go to ``<dir>/out`` and ``<dir>/err`` (stdin comes from ``<dir>/in`` or /dev/null),
so nothing breaks when the agent goes away, and the sandbox has no ``--die-with-parent``.
The agent reads the files as they grow, when told they were written to (inotify, else by
polling; the readers remember how far they got in ``<dir>/offsets``) and waits for the
supervisor with a pidfd, which works for a process of an earlier agent as well as for its
own child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hangar.agent.runtimes.base import ExitStatus, TerminationReason
from hangar.agent.runtimes.filewatch import FileWatch
from hangar.agent.runtimes.process import Classifier, EndingProcess

# The status is read only once the supervisor has exited: it needs no atomic rename.
SUPERVISOR = 'f=$1; shift; "$@"; c=$?; echo "$c" >"$f"; exit "$c"'
POLL = 0.01  # how often a growing output file is read while its process writes
POLL_IDLE = 0.25  # ... at most, once it has been quiet (the wait doubles up to this)
QUIET = 2.0  # seconds without output before the wait starts to grow
POLL_START, START = 0.002, 0.2  # a short command's output comes soon: look often at first
LOST_CODE = 255  # the exit status of a process whose supervisor died without writing one


@dataclass(frozen=True, slots=True)
class KeptFiles:
    """The files of one kept process."""

    root: Path

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def err(self) -> Path:
        return self.root / "err"

    @property
    def stdin(self) -> Path:
        return self.root / "in"

    @property
    def exit(self) -> Path:
        return self.root / "exit"

    @property
    def record(self) -> Path:
        return self.root / "process.json"

    @property
    def offsets(self) -> Path:
        return self.root / "offsets"

    def exit_code(self) -> int | None:
        """The status the supervisor wrote, None when there is none (yet)."""
        try:
            return int(self.exit.read_text().strip())
        except (OSError, ValueError):
            return None


def start_time(pid: int) -> str | None:
    """The start time of ``pid`` (to tell it from a later process with the same pid), None
    when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _spawn(
    files: KeptFiles, argv: Sequence[str], env: Mapping[str, str], shell: str, stdin: bytes | None
) -> subprocess.Popen[bytes]:
    if files.root.exists():
        for path in files.root.iterdir():
            path.unlink()
    files.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stdin is not None:
        fd = os.open(files.stdin, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(stdin)
    source = files.stdin if stdin is not None else Path(os.devnull)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    with (
        open(source, "rb") as stdin_file,
        open(os.open(files.out, flags, 0o600), "wb", closefd=True) as out,
        open(os.open(files.err, flags, 0o600), "wb", closefd=True) as err,
    ):
        process = subprocess.Popen(
            [shell, "-c", SUPERVISOR, "hangar-keep", str(files.exit), *argv],
            stdin=stdin_file, stdout=out, stderr=err, env=dict(env), cwd="/",
            start_new_session=True,
        )  # fmt: skip
    record = {"pid": process.pid, "start": start_time(process.pid)}
    files.record.write_text(json.dumps(record))
    return process


async def start_kept(
    files: KeptFiles,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    shell: str,
    stdin: bytes | None,
) -> int:
    """Start ``argv`` under a supervisor writing into ``files``; returns the supervisor's
    pid (a child of this process, reaped by its :class:`KeptProcess`). Raises OSError."""
    process = await asyncio.to_thread(_spawn, files, argv, env, shell, stdin)
    _REAPERS[process.pid] = process  # reaped (not left a zombie) once its pidfd fires
    return process.pid


_REAPERS: dict[int, subprocess.Popen[bytes]] = {}


def alive_pid(files: KeptFiles) -> int | None:
    """The supervisor's pid when the process recorded in ``files`` still runs."""
    try:
        record = json.loads(files.record.read_text())
        pid, started = int(record["pid"]), record.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if started is not None and start_time(pid) == started else None


class _Tail:
    """Feeds a StreamReader from a growing file, from the saved offset on."""

    def __init__(self, path: Path, offset: int, save: Callable[[], None]) -> None:
        self.path, self.offset, self._save = path, offset, save
        self.reader = asyncio.StreamReader(limit=2**16)

    def read_more(self) -> bool:
        """Feed what was added since the last call; True if there was something."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read(1 << 20)
        except OSError:
            return False
        if data:
            self.offset += len(data)
            self.reader.feed_data(data)
            self._save()
        return bool(data)


class KeptProcess(EndingProcess):
    """A kept process, started now or by an earlier agent. ``stdin`` is never writable."""

    stdin = None

    def __init__(
        self,
        files: KeptFiles,
        pid: int | None,
        *,
        classify: Classifier,
        terminate: Callable[[], None],
        timeout: float | None = None,
        on_exit: Callable[[KeptProcess], None] | None = None,
    ) -> None:
        """``pid``: the live supervisor, None when the process ended already."""
        self.files, self.pid = files, pid or 0
        self._classify, self._terminate, self._on_exit = classify, terminate, on_exit
        self._forced: TerminationReason | None = None
        out_at, err_at = _load_offsets(files)
        self._tails = [_Tail(files.out, out_at, self._save), _Tail(files.err, err_at, self._save)]
        self.stdout, self.stderr = self._tails[0].reader, self._tails[1].reader
        loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[None] = loop.create_future()
        self._pidfd: int | None = None
        if pid is None:
            self._exited.set_result(None)
        else:
            self._watch(loop, pid)
        self._timer = loop.call_later(timeout, self._expire) if timeout is not None else None
        self._finished = asyncio.create_task(self._finish())

    def moved(self, files: KeptFiles) -> None:
        """The process's files are now at ``files`` (its kernel was adopted)."""
        self.files = files
        self._tails[0].path, self._tails[1].path = files.out, files.err

    def _watch(self, loop: asyncio.AbstractEventLoop, pid: int) -> None:
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._exited.set_result(None)
            return
        loop.add_reader(self._pidfd, self._on_pidfd)

    def _on_pidfd(self) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        child = _REAPERS.pop(self.pid, None)
        if child is not None:
            child.wait()
        if not self._exited.done():
            self._exited.set_result(None)

    def _save(self) -> None:
        data = json.dumps([tail.offset for tail in self._tails])
        with contextlib.suppress(OSError):
            self.files.offsets.write_text(data)

    async def _pump(self) -> None:
        written = asyncio.Event()
        watch = FileWatch.open([tail.path for tail in self._tails], written.set)
        try:
            await (self._follow(watch, written) if watch is not None else self._poll())
        finally:
            if watch is not None:
                watch.close()
        while any([tail.read_more() for tail in self._tails]):
            pass
        for tail in self._tails:
            tail.reader.feed_eof()

    async def _follow(self, watch: FileWatch, written: asyncio.Event) -> None:
        """Read the files each time they were written to, until the process has ended (and
        every ``POLL_IDLE`` seconds, should a write go unnoticed)."""
        while not self._exited.done():
            written.clear()
            for tail in self._tails:
                tail.read_more()
            waiter: asyncio.Future[Any] = asyncio.ensure_future(written.wait())
            try:
                await asyncio.wait([waiter, self._exited], timeout=POLL_IDLE,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            finally:
                waiter.cancel()

    async def _poll(self) -> None:
        """Read the files every few milliseconds, less often once they stay quiet."""
        loop = asyncio.get_running_loop()
        started = last = loop.time()
        wait = POLL
        while not self._exited.done():
            if any([tail.read_more() for tail in self._tails]):
                last = loop.time()
            quiet = loop.time() - last > QUIET
            wait = min(wait * 2, POLL_IDLE) if quiet else POLL
            wait = POLL_START if loop.time() - started < START else wait
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await asyncio.shield(self._exited)

    async def _finish(self) -> ExitStatus:
        await self._pump()
        if self._timer is not None:
            self._timer.cancel()
        code = await asyncio.to_thread(self.files.exit_code)
        status = self._classify(LOST_CODE if code is None else code, self._forced)
        if code is None and self._forced is None:
            message = "it ended without an exit status (killed while the agent was down?)"
            status = ExitStatus(LOST_CODE, TerminationReason.KILLED, message, status.notes)
        if self._on_exit is not None:
            self._on_exit(self)
        return status

    def detach(self) -> None:
        """Stop watching (the agent is going away); the process runs on."""
        if self._pidfd is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._timer is not None:
            self._timer.cancel()
        self._finished.cancel()


def _load_offsets(files: KeptFiles) -> tuple[int, int]:
    try:
        out, err = json.loads(files.offsets.read_text())
        return int(out), int(err)
    except (OSError, ValueError, TypeError):
        return 0, 0


def kill_supervised(pid: int) -> None:
    """SIGKILL the sandbox under supervisor ``pid`` (bwrap's child, the sandbox's PID 1), so
    the supervisor records the kill; the supervisor's child itself before bwrap runs."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in map(int, children):
        try:
            inner = Path(f"/proc/{child}/task/{child}/children").read_text().split()
        except OSError:
            inner = []
        for target in [int(p) for p in inner] or [child]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
