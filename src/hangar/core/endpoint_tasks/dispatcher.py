"""The QUEUE dispatcher: each endpoint's tasks go FIFO to its RUNNING workers, at most
``concurrency`` at a time per worker, as ``POST <processUri>`` on ``workerPort`` with the
task's input as body and its headers added.

A submit wakes it at once (no polling on the hot path); a periodic pass catches what a
wake missed (tasks submitted through another server process, workers that came up),
renews this process's leases on the tasks it is sending and gives orphans (tasks whose
sender died with the server: lease run out) back to the queue once, or fails them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.agents.client import AppStream
from hangar.core.clock import Clock
from hangar.core.endpoint_tasks import repo
from hangar.core.endpoint_tasks.models import TaskStatus
from hangar.core.endpoint_tasks.outcome import NOT_SENT, Outcome, answered, died, timed_out
from hangar.core.endpoint_tasks.repo import TaskRecord
from hangar.core.endpoints.httpwire import exchange
from hangar.core.endpoints.models import WorkerChange, WorkerStatus, WorkerTarget
from hangar.core.errors import Unavailable
from hangar.core.loops import swallowed
from hangar.core.reconcile import Leases
from hangar.db.engine import DbSession

log = logging.getLogger("hangar.core.endpoint_tasks")
GONE = frozenset({WorkerStatus.TERMINATING, WorkerStatus.TERMINATED, WorkerStatus.FAILED})
ORPHANED = "The server process sending it stopped before the worker answered."
REFUSED_SECONDS = 2.0  # a worker that refused a connection gets no task for this long


class Workers(Protocol):
    """What the dispatcher needs of endpoints (EndpointService)."""

    async def running_workers(self, endpoint_id: int) -> list[WorkerTarget]: ...
    async def connect(self, target: WorkerTarget) -> AppStream: ...
    def note_load(self, endpoint_id: int, *, queued: int | None = None) -> None: ...
    def wake(self, endpoint_id: int) -> None: ...
    def worker_failed(self, endpoint_id: int, worker_id: int, reason: str) -> None: ...
    def worker_changes(self) -> contextlib.AbstractAsyncContextManager[
        asyncio.Queue[WorkerChange]]: ...  # fmt: skip


class Pokes(Protocol):
    def poke(self) -> None:
        """A finished task has a webhook attempt due now."""


IDLE_CHECK_SECONDS = 10.0  # the periodic pass while no task is queued or sent here
PURGE_SECONDS = 3600.0  # how often finished tasks past their retention are deleted
PURGE_BATCH = 1000  # tasks deleted per transaction


@dataclass(frozen=True, slots=True)
class DispatchRules:
    concurrency: int = 1  # tasks one worker runs at once
    timeout: float = 600.0  # a worker's answer is awaited this long
    check_seconds: float = 1.0  # the periodic pass
    retention_seconds: float = 7 * 86400.0  # finished tasks are kept this long


@dataclass(slots=True)
class _Sending:
    task: asyncio.Task[None]
    worker_id: int
    worker_gone: bool = False


@dataclass(frozen=True, slots=True)
class Slot:
    """A free place on a worker, reserved for a task being submitted (the fast path: the
    task is stored already sent to it, one write, no queue pass)."""

    target: WorkerTarget
    leases: Leases

    def assignment(self, port: int, uri: str, now: datetime) -> dict[str, Any]:
        """The columns of a task stored as sent to this slot's worker."""
        t = self.target
        return {"status": TaskStatus.DELIVERED.value, "worker_id": t.worker_id, "sends": 1,
                "worker_url": worker_url(t.endpoint_id, t.worker_id, port, uri),
                **self.leases.held(now)}  # fmt: skip


def worker_url(endpoint_id: int, worker_id: int, port: int, uri: str) -> str:
    """The URL a task was sent to (the worker's session name as the host)."""
    return f"http://ep{endpoint_id}-w{worker_id}:{port}{uri}"


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        workers: Workers,
        leases: Leases,
        notifier: Pokes,
        rules: DispatchRules = DispatchRules(),
    ) -> None:
        self._sessions, self._clock, self._workers = sessions, clock, workers
        self._leases, self._notifier, self._rules = leases, notifier, rules
        self._dirty: set[int] = set()
        self._event = asyncio.Event()
        self._busy: dict[int, int] = {}  # worker id -> tasks it holds now
        self._sending: dict[int, _Sending] = {}  # task id -> its send
        self._loaded: set[int] = set()  # endpoints last told a queue above zero
        self._targets: dict[int, list[WorkerTarget]] = {}  # RUNNING workers, last seen
        self._seen_at: dict[int, float] = {}  # when they were read (monotonic)
        self._backlog: set[int] = set()  # endpoints that may have queued tasks
        self._refused: dict[int, float] = {}  # worker id -> no tasks before (monotonic)
        self._wakes: dict[int, int] = {}  # wakes per endpoint (a fill saw none meanwhile?)
        self._purge_at = -math.inf  # when the next purge is due (monotonic)

    def reserve(self, endpoint_id: int) -> Slot | None:
        """A free worker slot for a new task when nothing waits before it (FIFO), else
        None (the task is queued). Give it back with :meth:`launch`."""
        if endpoint_id in self._backlog:
            return None
        slots = self._slots(self._targets.get(endpoint_id, []))
        if not slots:
            return None
        self._busy[slots[0].worker_id] = self._busy.get(slots[0].worker_id, 0) + 1
        return Slot(slots[0], self._leases)

    def launch(self, slot: Slot, record: TaskRecord | None) -> None:
        """Send ``record``, stored as assigned to ``slot``; None: the slot went unused."""
        if record is None or record.worker_id != slot.target.worker_id:
            self._busy[slot.target.worker_id] -= 1
            return
        self._start(record, slot.target)

    def wake(self, endpoint_id: int) -> None:
        """Tasks wait on ``endpoint_id``: hand them out now."""
        self._backlog.add(endpoint_id)
        self._wakes[endpoint_id] = self._wakes.get(endpoint_id, 0) + 1
        self._dirty.add(endpoint_id)
        self._event.set()

    async def run(self) -> None:
        """Until cancelled: the pump, the worker watcher and the periodic pass."""
        async with self._workers.worker_changes() as changes, self._cleanup():
            await asyncio.gather(self._pump(), self._watch(changes), self._keep())

    @contextlib.asynccontextmanager
    async def _cleanup(self) -> AsyncIterator[None]:
        try:
            yield
        finally:  # sends in flight stay leased; after the lease another pass recovers them
            for sending in list(self._sending.values()):
                sending.task.cancel()

    async def _pump(self) -> None:
        while True:
            await self._event.wait()
            self._event.clear()
            dirty, self._dirty = self._dirty, set()
            for endpoint_id in dirty:
                try:
                    await self.fill(endpoint_id)
                except Exception as exc:
                    swallowed("endpoint task dispatch", exc)

    def _slots(self, targets: list[WorkerTarget]) -> list[WorkerTarget]:
        """Free places on the workers, spread: each worker's first slot before any second."""
        now = self._clock.monotonic()
        targets = [t for t in targets if self._refused.get(t.worker_id, 0.0) <= now]
        slots = []
        for level in range(self._rules.concurrency):
            slots += [t for t in targets if self._busy.get(t.worker_id, 0) <= level]
        return slots

    async def _running(self, endpoint_id: int) -> list[WorkerTarget]:
        """The endpoint's RUNNING workers, read at most every ``check_seconds`` (a worker's
        change refreshes them at once)."""
        now = self._clock.monotonic()
        if now - self._seen_at.get(endpoint_id, -math.inf) >= self._rules.check_seconds:
            self._targets[endpoint_id] = await self._workers.running_workers(endpoint_id)
            self._seen_at[endpoint_id] = now
        return self._targets[endpoint_id]

    async def fill(self, endpoint_id: int) -> int:
        """Hand queued tasks of the endpoint to its free workers; how many went out."""
        targets = await self._running(endpoint_id)
        slots = self._slots(targets)
        if not targets:
            self._workers.wake(endpoint_id)  # a scaled-to-zero endpoint comes back
        if not slots:
            return 0
        wakes = self._wakes.get(endpoint_id, 0)
        async with self._sessions() as db, db.begin():
            taken = await repo.claim(
                db, endpoint_id, [t.worker_id for t in slots], worker_url, self._leases,
                self._clock.now(),
            )  # fmt: skip
        if len(taken) < len(slots) and wakes == self._wakes.get(endpoint_id, 0):
            self._backlog.discard(endpoint_id)  # the queue is empty: new tasks go straight
        by_worker = {t.worker_id: t for t in slots}
        for record in taken:
            target = by_worker[record.worker_id or 0]
            self._busy[target.worker_id] = self._busy.get(target.worker_id, 0) + 1
            self._start(record, target)
        return len(taken)

    async def _send(self, record: TaskRecord, target: WorkerTarget) -> None:
        following = None
        try:
            try:
                outcome = await self._exchange(record, target)
            except asyncio.CancelledError:
                sending = self._sending.get(record.id)
                if sending is None or not sending.worker_gone:
                    raise  # shutting down: the lease runs out, a later pass recovers it
                outcome = died(record.sends, f"worker {target.worker_id} ended")
            following = await self._apply(record, outcome, target)
        except Exception as exc:
            swallowed("endpoint task result", exc)
        finally:
            self._sending.pop(record.id, None)
            if following is not None:  # the worker's slot goes straight to the next task
                self._start(following, target)
            else:
                self._busy[target.worker_id] -= 1
                if record.endpoint_id in self._backlog:
                    self.wake(record.endpoint_id)

    def _start(self, record: TaskRecord, target: WorkerTarget) -> None:
        task = asyncio.create_task(self._send(record, target), name=f"task-{record.id}")
        self._sending[record.id] = _Sending(task, target.worker_id)

    async def _exchange(self, record: TaskRecord, target: WorkerTarget) -> Outcome:
        headers = {"Content-Type": "application/json", **record.headers}
        try:
            stream = await self._workers.connect(
                dataclasses.replace(target, port=record.worker_port)
            )
        except Unavailable as exc:  # nothing reached the worker: the task waits for another
            self._workers.worker_failed(record.endpoint_id, target.worker_id, exc.message)
            self._refused[target.worker_id] = self._clock.monotonic() + REFUSED_SECONDS
            return NOT_SENT
        try:
            answer = await exchange(
                stream, "POST", record.process_uri, headers=headers,
                body=record.input_json.encode(), port=record.worker_port,
                seconds=self._rules.timeout,
            )  # fmt: skip
        except TimeoutError:
            return timed_out(self._rules.timeout)
        except Unavailable as exc:
            self._workers.worker_failed(record.endpoint_id, target.worker_id, exc.message)
            return died(record.sends, exc.message)
        return answered(answer.status, answer.body)

    async def _apply(
        self, record: TaskRecord, outcome: Outcome, target: WorkerTarget
    ) -> TaskRecord | None:
        """Write the outcome; with tasks waiting, take the next one for the same worker in
        the same transaction (returned: the caller sends it)."""
        now = self._clock.now()
        following: list[TaskRecord] = []
        async with self._sessions() as db, db.begin():
            if outcome.status is None:
                await repo.requeue(db, record.id, self._leases, now, unsent=outcome.unsent)
                self._backlog.add(record.endpoint_id)
                return None
            notify = now if record.webhook else None
            done = await repo.finish(
                db, record.id, self._leases, status=outcome.status,
                output=outcome.output_json, error=outcome.error, notify_at=notify, now=now,
            )  # fmt: skip
            if record.endpoint_id in self._backlog and self._serves(target):
                following = await repo.claim(db, record.endpoint_id, [target.worker_id],
                                             worker_url, self._leases, now)  # fmt: skip
        if done and notify is not None:
            self._notifier.poke()
        return following[0] if following else None

    def _serves(self, target: WorkerTarget) -> bool:
        """The worker is still known RUNNING and has not refused a connection lately."""
        known = self._targets.get(target.endpoint_id, [])
        refused = self._refused.get(target.worker_id, 0.0) > self._clock.monotonic()
        return not refused and any(t.worker_id == target.worker_id for t in known)

    async def _watch(self, changes: asyncio.Queue[WorkerChange]) -> None:
        while True:
            change = await changes.get()
            if change.status is WorkerStatus.RUNNING:
                self._seen_at.pop(change.endpoint_id, None)
                self.wake(change.endpoint_id)
            elif change.status in GONE:
                known = self._targets.get(change.endpoint_id, [])
                self._targets[change.endpoint_id] = [
                    t for t in known if t.worker_id != change.worker_id
                ]
                for sending in list(self._sending.values()):
                    if sending.worker_id == change.worker_id and not sending.worker_gone:
                        sending.worker_gone = True
                        sending.task.cancel()

    async def _keep(self) -> None:
        last = -math.inf
        while True:
            if self._active() or time.monotonic() - last >= self._idle_every():
                last = time.monotonic()
                try:
                    await self.check()
                except Exception as exc:
                    swallowed("endpoint task check", exc)
            await asyncio.sleep(self._rules.check_seconds)

    def _active(self) -> bool:
        """This process sends, holds or has seen queued tasks: pass every ``check_seconds``."""
        return bool(self._sending or self._loaded or self._backlog)

    def _idle_every(self) -> float:
        """Idle, the pass only looks for orphans (found within a third of a lease after it
        runs out) and other processes' queues: it stays off every session's path."""
        third = self._leases.ttl.total_seconds() / 3
        return max(self._rules.check_seconds, min(IDLE_CHECK_SECONDS, third))

    async def check(self) -> None:
        """The periodic pass: renew leases, recover orphans, tell the autoscaler each
        endpoint's queue and hand out what waits."""
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            if self._sending:
                await repo.renew(db, self._leases, now)
            for orphan in await repo.orphans(db, now):
                await self._recover(db, orphan)
            queued = await repo.queued(db)
        for endpoint_id in self._loaded - set(queued):
            self._workers.note_load(endpoint_id, queued=0)
        for endpoint_id, count in queued.items():
            self._workers.note_load(endpoint_id, queued=count)
            self.wake(endpoint_id)
        self._loaded = set(queued)
        if time.monotonic() >= self._purge_at:
            self._purge_at = time.monotonic() + PURGE_SECONDS
            await self.purge()

    async def purge(self) -> int:
        """Delete the finished tasks older than the retention whose webhook is settled,
        a batch per transaction; how many went. A purged task's id may be used again."""
        now = self._clock.now()
        before, total = now - timedelta(seconds=self._rules.retention_seconds), 0
        while True:
            async with self._sessions() as db, db.begin():
                gone = await repo.purge(db, before, now, PURGE_BATCH)
            total += gone
            if gone < PURGE_BATCH:
                if total:
                    log.info("deleted %d endpoint tasks finished before %s", total, before)
                return total

    async def _recover(self, db: DbSession, orphan: TaskRecord) -> None:
        outcome = died(orphan.sends, ORPHANED)
        now = self._clock.now()
        notify = now if orphan.webhook and outcome.status is not None else None
        if await repo.recover(db, orphan.id, now, requeue=outcome.status is None,
                              reason=ORPHANED, notify_at=notify):  # fmt: skip
            log.warning("task %s of endpoint %s: %s", orphan.key, orphan.endpoint_id,
                        "queued again" if outcome.status is None else "failed")  # fmt: skip
            if notify is not None:
                self._notifier.poke()


def lease_for(seconds: float, owner: str) -> Leases:
    return Leases(owner, ttl=timedelta(seconds=seconds))
