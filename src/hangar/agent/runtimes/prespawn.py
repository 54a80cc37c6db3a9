"""Sandboxes built ahead of a run: a kernel's next process, waiting for its command.

Starting a process in a kernel costs a chain of programs before the user's own runs: nsenter
into the kernel's network, the wrapper shell joining its cgroup, bwrap building the sandbox,
setpriv dropping to the work user (~7 ms on an idle machine, several times that under load).
So the runtime keeps, per kernel, one such sandbox already built, whose process is a *waiter*:
a shell that reads one line from its stdin (the run's command: working directory, changes to
the environment, argv) and execs it. A run that takes it costs one write to a pipe.

The waiter's sandbox is the one :meth:`~.bubblewrap.BubblewrapRuntime.run` would build for the
run (the same command line: its own PID namespace, the kernel's cgroup, network, seccomp filter
and user), so isolation is unchanged, and every run still gets a sandbox of its own: a waiter
serves one run and is never reused. Its stdin pipe carries the command line first (the shell
reads it byte by byte, so nothing more), then the run's own input (or end of file where the
run reads /dev/null).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hangar.agent.runtimes.base import HOME, SandboxCommand
from hangar.agent.runtimes.process import Spawned, spawn

# Runs as the work user inside the sandbox. It first says it is ready (one byte on stdout,
# which the agent reads: the sandbox is built, its cgroup joined); the line it then reads is
# printable ASCII (other bytes are written as printf's \0ooo escapes); end of file before a
# line (the agent gave up on the waiter) ends it quietly.
READY = b"r"
WAITER_SCRIPT = 'printf r; IFS= read -r m || exit 0; eval "$(printf %b "$m")"'


def waiter_argv(shell: str | Sequence[str]) -> list[str]:
    """The waiter's command inside the sandbox (``shell``: a path, or an argv that starts
    one, as an image's sandbox starts the host's)."""
    prefix = [shell] if isinstance(shell, str) else list(shell)
    return [*prefix, "-c", WAITER_SCRIPT, "hangar-run"]


def command_line(
    argv: Sequence[str], env: Mapping[str, str], cwd: str, *, base: Mapping[str, str]
) -> bytes:
    """The line a waiter started with environment ``base`` (in HOME) reads to become
    ``argv`` with environment ``env`` in ``cwd``. PWD follows ``cwd``, as bwrap sets it."""
    script = []
    if cwd != HOME:  # where bwrap's --chdir fails, it exits 1 too
        script.append(f"cd -- {shlex.quote(cwd)} || exit 1; unset OLDPWD; ")
    gone = sorted(name for name in base if name not in env and name != "PWD")
    script += [f"unset {name}; " for name in gone]
    changed = sorted(n for n, v in env.items() if base.get(n) != v and n != "PWD")
    script += [f"export {name}={shlex.quote(env[name])}; " for name in changed]
    script.append("exec " + " ".join(map(shlex.quote, argv)))
    data = os.fsencode("".join(script))
    escaped = "".join(
        chr(byte) if 0x20 <= byte < 0x7F and byte != 0x5C else f"\\0{byte:03o}" for byte in data
    )
    return escaped.encode() + b"\n"


def fits(argv: Sequence[str]) -> bool:
    """Whether a waiter can exec ``argv`` (the shell's exec takes no ``--``)."""
    return bool(argv) and not argv[0].startswith("-")


@dataclass
class Waiter:
    """One pre-built sandbox of a kernel: the started process, the environment it was
    started with, and the kernel's sandbox options (its bwrap options file) it was built
    with, to tell a stale one. ``aliases`` map host paths as a run's environment names them
    to where the sandbox has them (a sandbox built for a pooled kernel keeps its paths)."""

    spawned: Spawned
    env: Mapping[str, str] = field(default_factory=dict)
    args_data: bytes = b""
    aliases: tuple[tuple[str, str], ...] = ()
    ready: asyncio.Future[bool] | None = None  # its sandbox is built (it said so)

    @property
    def settled(self) -> bool:
        """Whether it said it is ready (its sandbox built, nothing more to set up)."""
        return self.ready is not None and self.ready.done() and self.ready.result()

    async def wait_ready(self) -> bool:
        """Wait until it says it is ready; False when it ended first."""
        return await asyncio.shield(self.ready) if self.ready is not None else True

    @property
    def alive(self) -> bool:
        """Whether it still waits (not ended, its stdin still open)."""
        stdin = self.spawned.process.stdin
        return not self.spawned.exited.done() and stdin is not None and not stdin.is_closing()

    def hand_over(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str, *, keep_stdin: bool
    ) -> Spawned:
        """Send the run's command; the process is the run's from now on. Without
        ``keep_stdin`` its stdin is closed after the command (the run reads end of file)."""
        process = self.spawned.process
        assert process.stdin is not None
        if self.aliases:
            env = {name: _aliased(value, self.aliases) for name, value in env.items()}
        process.stdin.write(command_line(argv, env, cwd, base=self.env))
        if not keep_stdin:
            process.stdin.close()
            process.stdin = None
        return self.spawned


def _aliased(value: str, aliases: tuple[tuple[str, str], ...]) -> str:
    for run_path, own_path in aliases:
        value = value.replace(run_path, own_path)
    return value


async def start_waiter(command: SandboxCommand, args_data: bytes) -> Waiter:
    """Start a waiter from ``command`` (the kernel's sandbox around :func:`waiter_argv`,
    in HOME). Raises OSError."""
    spawned = await spawn(command.argv, env=command.env, cwd="/", stdin_pipe=True)
    ready = asyncio.ensure_future(_said_ready(spawned))
    return Waiter(spawned, command.env, args_data, ready=ready)


async def _said_ready(spawned: Spawned) -> bool:
    """Read the waiter's one-byte ready signal (the only read before a run takes it)."""
    stdout = spawned.process.stdout
    assert stdout is not None
    try:
        return await stdout.readexactly(len(READY)) == READY
    except (asyncio.IncompleteReadError, OSError):
        return False


async def retire(waiter: Waiter, kill: Callable[[int], None], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Close the waiter's stdin (it then exits), kill its sandbox with ``kill(pid)`` and wait
    (at most ``timeout`` seconds) until it has ended and its output pipes are closed: the
    waiter must outlive its pipes' transports, whose file descriptors it owns."""
    stdin = waiter.spawned.process.stdin
    if stdin is not None and not stdin.is_closing():
        stdin.close()
    kill(waiter.spawned.process.pid)
    ends = asyncio.gather(waiter.spawned.exited, waiter.spawned.drained)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(ends), timeout)


class Waiters:
    """At most one waiter per kernel, built in the background.

    ``build(kernel_id)`` returns the kernel's sandbox command around :func:`waiter_argv` and
    its current options data, or None when the kernel is gone; ``kill(pid)`` ends a sandbox.
    """

    def __init__(
        self,
        build: Callable[[str], tuple[SandboxCommand, bytes] | None],
        kill: Callable[[int], None],
        *,
        refill_delay: float = 0.1,
    ) -> None:
        self._build, self._kill, self.refill_delay = build, kill, refill_delay
        self._wanted: set[str] = set()  # kernels that keep a waiter ready
        self._ready: dict[str, Waiter] = {}
        self._filling: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def keep_ready(self, kernel_id: str) -> None:
        """From now on the kernel has a waiter ready (one is built now, and again after each
        run, see :meth:`refill`) until :meth:`drop`. Needs a running loop."""
        self._wanted.add(kernel_id)
        self.fill(kernel_id)

    def refill(self, kernel_id: str) -> None:
        """A run of the kernel ended: build its next waiter after ``refill_delay`` (not at
        once: the answer to that run, and what its client does next, go first)."""
        if kernel_id in self._wanted:
            self.fill(kernel_id, self.refill_delay)

    def fill(self, kernel_id: str, delay: float = 0.0) -> None:
        """Build the kernel's waiter (after ``delay`` seconds) unless it has one or one is
        being built. Needs a running loop."""
        if kernel_id in self._ready or kernel_id in self._filling:
            return
        if delay > 0:
            if kernel_id not in self._timers:
                loop = asyncio.get_running_loop()
                self._timers[kernel_id] = loop.call_later(delay, self._fill_now, kernel_id)
            return
        self._fill_now(kernel_id)

    def _fill_now(self, kernel_id: str) -> None:
        self._timers.pop(kernel_id, None)
        if kernel_id in self._ready or kernel_id in self._filling:
            return
        task = asyncio.create_task(self._start(kernel_id))
        self._filling[kernel_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._filling.get(kernel_id) is finished:
                del self._filling[kernel_id]

        task.add_done_callback(done)

    async def _start(self, kernel_id: str) -> None:
        built = self._build(kernel_id)
        if built is None:
            return
        try:
            waiter = await start_waiter(*built)
        except OSError:
            return  # runs start the usual way
        if kernel_id in self._wanted:
            self._ready[kernel_id] = waiter
        else:  # dropped meanwhile
            self._retire(waiter)

    def discard(self, waiter: Waiter) -> None:
        """End a taken waiter that cannot serve its run (its sandbox failed)."""
        self._retire(waiter)

    def _retire(self, waiter: Waiter) -> asyncio.Task[None]:
        task = asyncio.create_task(retire(waiter, self._kill))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        return task

    async def settle(self, kernel_id: str, timeout: float) -> None:  # noqa: ASYNC109
        """Wait (at most ``timeout`` seconds) until the kernel's ready waiter, if any, has
        built its sandbox: before its cgroup or paths move (see :meth:`move`)."""
        waiter = self._ready.get(kernel_id)
        if waiter is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait_ready(), timeout)

    def move(
        self,
        source_id: str,
        target_id: str,
        args_data: bytes | None,
        aliases: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """``source_id`` became ``target_id`` (a pooled kernel adopted): its ready waiter
        is the target's from now on, as built with ``args_data`` (the target's options) and
        with ``aliases`` (see :class:`Waiter`); None retires it (the sandboxes differ).
        Whether the target keeps a waiter ready is for :meth:`keep_ready` to say."""
        self._wanted.discard(source_id)  # a build in progress retires what it makes
        timer = self._timers.pop(source_id, None)
        if timer is not None:
            timer.cancel()
        waiter = self._ready.pop(source_id, None)
        if waiter is None:
            return
        if args_data is None or not waiter.settled or not waiter.alive or target_id in self._ready:
            self._retire(waiter)
            return
        waiter.args_data, waiter.aliases = args_data, (*waiter.aliases, *aliases)
        self._ready[target_id] = waiter

    def pid(self, kernel_id: str) -> int | None:
        """The pid of the kernel's waiter (its sandbox's launcher), None while it has none
        ready."""
        waiter = self._ready.get(kernel_id)
        return waiter.spawned.process.pid if waiter is not None else None

    def take(self, kernel_id: str, args_data: bytes) -> Waiter | None:
        """The kernel's waiter, removed (None where there is none, or it is stale or
        ended: such a one is discarded)."""
        waiter = self._ready.pop(kernel_id, None)
        if waiter is None:
            return None
        if waiter.alive and waiter.args_data == args_data:
            return waiter
        self._retire(waiter)
        return None

    async def drop(self, kernel_id: str, timeout: float) -> None:  # noqa: ASYNC109
        """End the kernel's waiter and any build or refill of one (its kernel is going
        away or changing); waits up to ``timeout`` seconds for its process to end."""
        self._wanted.discard(kernel_id)
        timer = self._timers.pop(kernel_id, None)
        if timer is not None:
            timer.cancel()
        task = self._filling.get(kernel_id)
        if task is not None:  # not cancelled mid-spawn: it retires what it built
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout)
        waiter = self._ready.pop(kernel_id, None)
        if waiter is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._retire(waiter)), timeout)

    def close(self) -> None:
        """End every waiter now (the agent is going away), without waiting; one being
        built ends once it is."""
        for timer in self._timers.values():
            timer.cancel()
        for waiter in self._ready.values():
            self._retire(waiter)
        self._timers.clear()
        self._ready.clear()
        self._wanted.clear()
