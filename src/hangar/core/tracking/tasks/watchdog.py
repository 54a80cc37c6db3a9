"""The watchdog: in-progress tasks that stopped reporting are stopped.

A script killed without a word (kill -9, a lost machine) leaves its task ``in_progress``
forever. As the reference server does (its non-responsive tasks watchdog), a task with no
ping, change or event for ``timeout`` seconds is moved to ``stopped`` with the reason
"Forced stop (non-responsive)". One pass is a reconcile pass (:mod:`hangar.core.reconcile`)
without leases: the candidates are read, the decision is a pure function of a task and its
last event, and the write is a compare-and-set on (in progress, silent since the cut-off),
so a ping that lands meanwhile wins and two server processes never stop a task twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from hangar.core.clock import Clock
from hangar.core.loops import swallowed
from hangar.core.reconcile import Reconciler
from hangar.core.scoped import Database
from hangar.core.tracking.contracts import MetricsSummaries
from hangar.core.tracking.tasks import fields, repo
from hangar.core.tracking.tasks.models import Task
from hangar.core.tracking.tasks.states import TaskStatus
from hangar.db.engine import engine_of

REASON = "Forced stop (non-responsive)"
BATCH = 500  # tasks looked at per pass (the oldest first)

Silent = tuple[Task, datetime | None]  # a candidate and the time of its last event


def decide(candidate: Silent, cutoff: datetime, now: datetime) -> dict[str, Any] | None:
    """What to write for a task silent since before ``cutoff`` (None: it reported an event
    since, leave it running)."""
    task, last_event = candidate
    if last_event is not None and last_event >= cutoff:
        return None
    values: dict[str, Any] = {
        "status": TaskStatus.STOPPED.value, "status_reason": REASON, "status_message": REASON,
        "status_changed": now, "completed": now, "last_update": now, "last_change": now,
    }  # fmt: skip
    if task.started is not None:
        values["active_duration"] = int((now - task.started).total_seconds())
    return values


class TaskWatchdog:
    """Stops in-progress tasks silent for ``timeout`` seconds, every ``interval`` seconds."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        summaries: MetricsSummaries,
        *,
        timeout: float,
        interval: float,
    ) -> None:
        self._engine = engine_of(db)
        self._clock = clock
        self._summaries = summaries
        self.timeout = timeout
        self.interval = interval

    async def run_once(self) -> int:
        """One pass; returns how many tasks it stopped."""
        now = self._clock.now()
        cutoff = now - timedelta(seconds=self.timeout)
        stopped = 0

        async def claim() -> list[Silent]:
            async with self._engine.connect() as db:
                found = await repo.silent_tasks(db, cutoff, BATCH)
            events = await self._summaries.summaries([t.id for t in found])
            return [(t, events[t.id].last_update if t.id in events else None) for t in found]

        async def apply(candidate: Silent, values: dict[str, Any] | None) -> None:
            nonlocal stopped
            if values is None:
                return
            columns = {fields.COLUMNS.get(k, k): v for k, v in values.items()}
            async with self._engine.begin() as db:
                stopped += await repo.stop_silent(db, candidate[0].id, cutoff, columns)

        async def release(candidates: Sequence[Silent]) -> None:
            del candidates  # no leases: the compare-and-set write is the guard

        await Reconciler(
            "task-watchdog", claim=claim, decide=lambda c: decide(c, cutoff, now),
            apply=apply, release=release,
        ).run_once()  # fmt: skip
        return stopped

    async def run(self) -> None:
        """A pass every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except Exception as exc:  # the next pass tries again
                swallowed("task-watchdog", exc)
