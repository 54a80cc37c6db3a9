"""Background tasks run by this server, with progress and a final state that outlives them.

A task is a coroutine run as an asyncio task of this process. It reports progress through a
:class:`Progress` (callable from worker threads too); every change goes on the event bus at
once (``TASK_PROGRESSED``, then ``TASK_FINISHED``), and the database gets it at most every
``persist_seconds`` and always at the end, so a client that connects later — or to another
server process — reads the final state there. Tasks a stopped process left RUNNING are
CANCELLED when the server starts again. Finished tasks are kept for ``RETENTION`` (a day),
then forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.bgtasks import repo
from hangar.core.bgtasks.states import TaskState, TaskStatus, can_move
from hangar.core.clock import Clock
from hangar.core.errors import HangarError, NotFound
from hangar.core.events import Event, EventBus, EventKind, Matcher, TaskChange, Tenant
from hangar.core.principal import Principal
from hangar.db.engine import DbSession

log = logging.getLogger("hangar.bgtasks")

RETENTION = timedelta(hours=24)
POLL_SECONDS = 0.5
CANCELLED_BY_SHUTDOWN = "The task was cancelled because the server is shutting down."
CANCELLED_BY_RESTART = "The task was interrupted by a server restart."


class Progress:
    """What a task's work uses to report how far it got."""

    def __init__(self, tasks: BackgroundTasks, task_id: uuid.UUID) -> None:
        self._tasks = tasks
        self._loop = asyncio.get_running_loop()
        self.task_id = task_id

    def set(self, current: int, total: int | None = None, message: str | None = None) -> None:
        """Record progress; safe to call from the event loop and from worker threads."""
        self._loop.call_soon_threadsafe(
            self._tasks._progress, self.task_id, current, total, message
        )


Work = Callable[[Progress], Awaitable[str]]
"""A task's body: it returns the message of its success and raises to fail."""


def _state_of(event: Event) -> TaskState:
    """The task state an event of the bus carries."""
    change = event.payload
    assert isinstance(change, TaskChange)
    return TaskState(
        event.subject, change.task_kind, str(event.tenant.user_id), TaskStatus(change.status),
        change.current, change.total, change.message, event.at,
    )  # fmt: skip


def task_not_found() -> NotFound:
    return NotFound("background task", "No such background task.")


class BackgroundTasks:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        bus: EventBus,
        *,
        persist_seconds: float = 0.5,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._bus = bus
        self._persist_seconds = persist_seconds
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._latest: dict[uuid.UUID, TaskState] = {}
        self._tenants: dict[uuid.UUID, Tenant] = {}
        self._persisted_at: dict[uuid.UUID, float] = {}
        self._writes: set[asyncio.Task[None]] = set()

    async def start(
        self, *, kind: str, owner: Principal, work: Work, total: int = 0, message: str = ""
    ) -> uuid.UUID:
        """Record a RUNNING task of ``owner`` and run ``work`` in the background; returns
        its id at once."""
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            state = repo.add(db, kind, str(owner.user_uuid), total, message, now)
        self._latest[state.id] = state
        self._tenants[state.id] = Tenant(owner.user_uuid, None, owner.domain_name)
        self._persisted_at[state.id] = time.monotonic()
        progress = Progress(self, state.id)
        self._running[state.id] = asyncio.create_task(
            self._run(state.id, work, progress), name=f"bgtask-{kind}-{state.id}"
        )
        return state.id

    async def _run(self, task_id: uuid.UUID, work: Work, progress: Progress) -> None:
        try:
            try:
                message = await work(progress)
            except asyncio.CancelledError:
                await asyncio.shield(
                    self._finish(task_id, TaskStatus.CANCELLED, CANCELLED_BY_SHUTDOWN)
                )
                raise
            except HangarError as exc:
                await self._finish(task_id, TaskStatus.FAILED, exc.message)
            except Exception as exc:
                log.exception("background task %s failed", task_id)
                failure = f"Internal error ({type(exc).__name__}); see the server log."
                await self._finish(task_id, TaskStatus.FAILED, failure)
            else:
                await self._finish(task_id, TaskStatus.DONE, message)
        finally:
            self._running.pop(task_id, None)

    def _progress(
        self, task_id: uuid.UUID, current: int, total: int | None, message: str | None
    ) -> None:
        state = self._latest.get(task_id)
        if state is None or state.finished:
            return
        state = replace(
            state,
            current=int(current),
            total=state.total if total is None else int(total),
            message=state.message if message is None else message,
            updated_at=self._clock.now(),
        )
        self._latest[task_id] = state
        self._publish(state)
        if time.monotonic() - self._persisted_at.get(task_id, 0.0) >= self._persist_seconds:
            self._persisted_at[task_id] = time.monotonic()
            write = asyncio.create_task(self._write_progress(state))
            self._writes.add(write)
            write.add_done_callback(self._writes.discard)

    async def _write_progress(self, state: TaskState) -> None:
        try:
            async with self._sessions() as db, db.begin():
                await repo.write_progress(db, state)
        except Exception:  # progress is advisory; the final state is written at the end
            log.exception("could not record the progress of background task %s", state.id)

    async def _finish(self, task_id: uuid.UUID, status: TaskStatus, message: str) -> None:
        """Move a RUNNING task to a final status (compare-and-set) and tell listeners."""
        state = self._latest.get(task_id)
        assert state is not None and can_move(state.status, status)
        for write in list(self._writes):
            with contextlib.suppress(Exception):
                await write
        final = replace(state, status=status, message=message, updated_at=self._clock.now())
        if status is TaskStatus.DONE and final.total:
            final = replace(final, current=final.total)
        async with self._sessions() as db, db.begin():
            await repo.finish(db, final)
        self._latest.pop(task_id, None)
        self._persisted_at.pop(task_id, None)
        self._publish(final)
        self._tenants.pop(task_id, None)

    def _publish(self, state: TaskState) -> None:
        tenant = self._tenants.get(state.id)
        if tenant is None:
            return
        kind = EventKind.TASK_FINISHED if state.finished else EventKind.TASK_PROGRESSED
        change = TaskChange(state.kind, state.status.value, state.current, state.total,
                            state.message)  # fmt: skip
        self._bus.publish(Event(kind, state.id, tenant, change, state.updated_at))

    # Reading ------------------------------------------------------------------------------

    async def get(self, caller: Principal, task_id: uuid.UUID) -> TaskState:
        """The task as its owner (or a superadmin) sees it now. Raises NotFound for unknown,
        expired or other users' tasks."""
        state = self._latest.get(task_id)
        if state is None:
            async with self._sessions() as db:
                found = await repo.get(db, task_id)
            if found is None:
                raise task_not_found()
            state = found
        if state.owner != str(caller.user_uuid) and not caller.is_superadmin:
            raise task_not_found()
        if state.finished and state.updated_at < self._clock.now() - RETENTION:
            raise task_not_found()
        return state

    async def watch(
        self, caller: Principal, task_id: uuid.UUID, *, heartbeat: float = 15.0
    ) -> AsyncIterator[TaskState]:
        """The task's state now, then each change, ending with its final state; the last
        state again after ``heartbeat`` seconds without a change.

        Raises NotFound before yielding anything. A task run by another process is followed
        by polling the database.
        """
        kinds = frozenset({EventKind.TASK_PROGRESSED, EventKind.TASK_FINISHED})
        async with self._bus.subscribe(Matcher(kinds, task_id, everywhere=True)) as events:
            state = await self.get(caller, task_id)
            yield state
            while not state.finished:
                if task_id in self._running or task_id in self._latest:
                    with contextlib.suppress(TimeoutError):
                        state = _state_of(await asyncio.wait_for(events.get(), heartbeat))
                elif queued := events.drain():
                    state = _state_of(queued[-1])
                else:
                    await asyncio.sleep(POLL_SECONDS)
                    state = await self.get(caller, task_id)
                yield state

    # Housekeeping -------------------------------------------------------------------------

    async def recover(self) -> int:
        """Cancel tasks a stopped server left RUNNING; returns how many."""
        async with self._sessions() as db, db.begin():
            return await repo.cancel_running(
                db, list(self._running), CANCELLED_BY_RESTART, self._clock.now()
            )

    async def sweep(self) -> int:
        """Forget finished tasks older than RETENTION; returns how many."""
        async with self._sessions() as db, db.begin():
            return await repo.delete_finished_before(db, self._clock.now() - RETENTION)

    async def wait(self, task_id: uuid.UUID) -> None:
        """Until the task, if it runs in this process, has finished."""
        task = self._running.get(task_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    async def close(self) -> None:
        """Cancel running tasks; they end CANCELLED and their listeners are told."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
