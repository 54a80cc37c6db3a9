"""Code execution runs: buffered output handed out as :class:`RunResult`, by polling or streaming.

A run belongs to one session and is identified by a run id: a batch pipeline, or a query-mode
cell in the session's Jupyter kernel. Its output records are kept in order until a client
takes them; a status other than ``continued`` ends a hand-out (``waiting-input`` too: the
client answers with :meth:`Executions.send_input`). Runs of a session are serialized: a new
run waits for the previous one to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hangar.agent.models import BatchSteps, RunOutput
from hangar.core.agents.client import AgentClient
from hangar.core.agents.service import AgentService
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.models import ComputeSession
from hangar.core.errors import InvalidRequest, Unavailable

END_KINDS = frozenset({"finished", "exec-timeout"})
STEP_KINDS = frozenset({"clean-finished", "build-finished", "waiting-input"}) | END_KINDS


class RunStatus(StrEnum):
    """Where a run stands at the end of a hand-out."""

    CONTINUED = "continued"  # still running; more output to come
    WAITING_INPUT = "waiting-input"  # blocked in ``input()``
    CLEAN_FINISHED = "clean-finished"
    BUILD_FINISHED = "build-finished"
    FINISHED = "finished"
    EXEC_TIMEOUT = "exec-timeout"

    @property
    def ended(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.EXEC_TIMEOUT)


@dataclass(frozen=True, slots=True)
class ConsoleItem:
    """A piece of a run's output: a stream's text, or rich media (``mime`` set)."""

    stream: str  # stdout, stderr, media, html, ...
    text: str
    mime: str | None = None


@dataclass
class RunResult:
    """One hand-out of a run."""

    session_id: uuid.UUID
    run_id: str
    status: RunStatus
    exit_code: int | None
    console: list[ConsoleItem] = field(default_factory=list)
    files: tuple[str, ...] | None = None  # names of the files under /home/work/.output
    password: bool | None = None  # WAITING_INPUT: whether the input is a secret
    error: str = ""  # a finished query cell's exception, "Name: value"


def append_console(console: list[ConsoleItem], record: RunOutput) -> None:
    """Add a console item, merging consecutive chunks of the same stream."""
    kind, text = record.kind, record.text
    if kind == "media":
        console.append(ConsoleItem("media", text, record.mime))
    elif console and console[-1].stream == kind and kind in ("stdout", "stderr"):
        console[-1] = ConsoleItem(kind, console[-1].text + text)
    else:
        console.append(ConsoleItem(kind, text))


class Run:
    def __init__(self, run_id: str, session: ComputeSession) -> None:
        self.id = run_id
        self.session = session
        self.records: list[RunOutput] = []
        self.changed = asyncio.Condition()
        self.done = False
        self.task: asyncio.Task[None] | None = None
        self.files: tuple[str, ...] | None = None

    async def feed(self, outputs: AsyncIterator[RunOutput]) -> None:
        try:
            async for output in outputs:
                async with self.changed:
                    self.records.append(output)
                    self.changed.notify_all()
        except Exception as exc:  # an agent failure ends the run visibly
            message = getattr(exc, "message", None) or str(exc)
            async with self.changed:
                self.records.append(RunOutput("stderr", f"\n[hangar] run failed: {message}\n"))
                self.records.append(RunOutput("finished", exit_code=1))
        finally:
            async with self.changed:
                self.done = True
                self.changed.notify_all()

    async def take(self, flush: float, *, eager: bool = False) -> RunResult:
        """Wait up to ``flush`` seconds for a status (``eager``: or for any output); hand
        out what accumulated until then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush
        async with self.changed:
            while not self._has_status() and not self.done and not (eager and self.records):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), remaining)
            return self._drain()

    def _has_status(self) -> bool:
        return any(r.kind in STEP_KINDS for r in self.records)

    def _drain(self) -> RunResult:
        result = RunResult(self.session.id, self.id, RunStatus.CONTINUED, None)
        while self.records:
            record = self.records.pop(0)
            if record.kind in STEP_KINDS:
                result.status, result.exit_code = RunStatus(record.kind), record.exit_code
                if result.status is RunStatus.WAITING_INPUT:
                    result.password = record.password
                if result.status.ended:
                    result.files, result.error = self.files, record.text
                break
            append_console(result.console, record)
        if result.status is RunStatus.CONTINUED and self.done and not self.records:
            result.status = RunStatus.FINISHED
        return result

    @property
    def finished(self) -> bool:
        return self.done and not self.records


class Executions:
    """Runs of all sessions of this server."""

    def __init__(
        self,
        lifecycle: SessionLifecycle,
        flush_seconds: float = 2.0,
        *,
        agents: AgentService | None = None,
        query_timeout: float = 0,
    ) -> None:
        """``query_timeout``: seconds a query cell may run (0: no limit); ``agents`` reach
        the sessions' kernels for query mode (without them query mode is refused)."""
        self._lifecycle = lifecycle
        self._agents = agents
        self._runs: dict[tuple[uuid.UUID, str], Run] = {}
        self._session_locks: dict[uuid.UUID, asyncio.Lock] = {}
        self.flush_seconds = flush_seconds
        self.query_timeout = query_timeout

    def _start(self, session: ComputeSession, run_id: str | None, outputs: Any) -> Run:
        run = Run(run_id or secrets.token_hex(16), session)
        self._runs[(session.id, run.id)] = run
        lock = self._session_locks.setdefault(session.id, asyncio.Lock())

        async def go() -> None:
            async with lock:
                await run.feed(outputs(run))

        run.task = asyncio.create_task(go())
        return run

    def start_batch(
        self, session: ComputeSession, steps: BatchSteps, run_id: str | None = None
    ) -> Run:
        return self._start(session, run_id, lambda run: self._batch_outputs(session, steps, run))

    async def _batch_outputs(
        self, session: ComputeSession, steps: BatchSteps, run: Run
    ) -> AsyncIterator[RunOutput]:
        async for output in self._lifecycle.stream_batch(session, steps):
            if output.kind in END_KINDS:
                run.files = await self._lifecycle.output_files(session)
            yield output

    def ensure_reachable(self, session: ComputeSession) -> None:
        """Raise Unavailable when the agent running ``session`` is not connected (LOST, or
        not back yet after a restart): before a run starts, so that clients see the error
        instead of a run that never produces anything."""
        agent_id = session.agent_id
        if self._agents is None or agent_id is None or agent_id in self._agents.connected:
            return
        raise Unavailable(
            f"Session {session.name} runs on agent {agent_id}, which is not connected "
            "(LOST); code can run again once the agent reports back."
        )

    def _agent(self, session: ComputeSession) -> AgentClient:
        if self._agents is None or session.agent_id is None:
            raise InvalidRequest("Query mode is not available on this server; use batch mode.")
        return self._agents.client(session.agent_id)

    def start_query(self, session: ComputeSession, code: str, run_id: str | None = None) -> Run:
        """Run ``code`` as a cell in the session's Jupyter kernel. Raises InvalidRequest."""
        agent = self._agent(session)
        timeout = self.query_timeout or None
        return self._start(
            session, run_id, lambda run: self._query_outputs(session, agent, code, timeout)
        )

    async def _query_outputs(
        self,
        session: ComputeSession,
        agent: AgentClient,
        code: str,
        timeout: float | None,  # noqa: ASYNC109 - the cell's limit, enforced by the agent
    ) -> AsyncIterator[RunOutput]:
        self._lifecycle.mark_busy(session.id, True)
        try:
            outputs = agent.run_query(session.id, code, timeout)
            try:
                async for output in outputs:
                    yield output
            finally:
                if isinstance(outputs, AsyncGenerator):
                    await outputs.aclose()
        finally:
            self._lifecycle.mark_busy(session.id, False)
            self._lifecycle.touch(session.id)

    async def send_input(self, session: ComputeSession, run: Run, text: str) -> None:
        """Hand a line to the run's pending ``input()`` (kept for the next one if none)."""
        if run.done:
            return
        await self._agent(session).send_input(session.id, text)

    async def complete(
        self, session: ComputeSession, code: str, options: Mapping[str, Any] | None
    ) -> list[str]:
        """Completion candidates at the cursor ``options`` describe (end of ``code`` by
        default); [] where the session's image has no Jupyter kernel."""
        return await self._agent(session).complete(session.id, code, options)

    def get(self, session: ComputeSession, run_id: str) -> Run:
        run = self._runs.get((session.id, run_id))
        if run is None:
            raise InvalidRequest(f"No such run: {run_id}")
        return run

    async def take(
        self, session: ComputeSession, run: Run, flush: float | None = None, *, eager: bool = False
    ) -> RunResult:
        """The run's next hand-out (see :meth:`Run.take`): a stream passes ``eager`` to have
        output as soon as there is some; polling waits for a status or ``flush`` seconds."""
        result = await run.take(self.flush_seconds if flush is None else flush, eager=eager)
        if run.finished:
            self._runs.pop((session.id, run.id), None)
        return result

    async def cancel(self, run: Run) -> None:
        """Stop a run whose client went away."""
        if not run.done:
            await self._lifecycle.interrupt(run.session)
