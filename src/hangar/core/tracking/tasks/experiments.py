"""The tasks part of tracking, built together: projects and tasks, their writes and reads."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from hangar.core.clock import Clock
from hangar.core.scoped import Database
from hangar.core.tracking.contracts import (
    KEEP_NOTHING,
    Cleaned,
    Keep,
    KeepingCleanup,
    MetricsSummaries,
    MetricsSummary,
    TaskCleanup,
    TaskId,
    TaskRef,
)
from hangar.core.tracking.tasks.projects import ProjectService
from hangar.core.tracking.tasks.reads import ProjectReads, TaskDirectory, TaskReads
from hangar.core.tracking.tasks.service import TaskService
from hangar.core.tracking.tasks.watchdog import TaskWatchdog


class NoSummaries:
    """Metric summaries where no metrics part is wired: every task without metrics."""

    async def summaries(self, ids: Collection[TaskId]) -> dict[TaskId, MetricsSummary]:
        del ids
        return {}


class Cleanups:
    """Several cleanups told in turn: first those that may be asked to keep what they hold
    (models, then files: told which models were kept), then the others (events, queues)."""

    def __init__(
        self, parts: Sequence[TaskCleanup], keeping: Sequence[KeepingCleanup] = ()
    ) -> None:
        self._parts = tuple(parts)
        self._keeping = tuple(keeping)

    async def tasks_deleted(self, tasks: Collection[TaskRef], keep: Keep = KEEP_NOTHING) -> Cleaned:
        cleaned = Cleaned()
        for keeping in self._keeping:
            cleaned += await keeping.tasks_deleted(
                tasks, replace(keep, model_uris=cleaned.kept_models)
            )
        for part in self._parts:
            cleaned += await part.tasks_deleted(tasks)
        return cleaned


@dataclass
class Experiments:
    """Projects and tasks as the faces reach them."""

    projects: ProjectService
    project_reads: ProjectReads
    tasks: TaskService
    task_reads: TaskReads
    access: TaskDirectory
    watchdog: TaskWatchdog  # stops in-progress tasks that went silent


def build_experiments(
    db: Database,
    clock: Clock,
    *,
    access: TaskDirectory,
    summaries: MetricsSummaries,
    cleanups: Sequence[TaskCleanup],
    keeping: Sequence[KeepingCleanup] = (),
    silent_after: float = 7200.0,
    watch_every: float = 900.0,
) -> Experiments:
    """``silent_after``: seconds without a ping, change or event after which an in-progress
    task is stopped; ``watch_every``: how often the watchdog looks."""
    return Experiments(
        projects=ProjectService(db, clock),
        project_reads=ProjectReads(db, clock),
        tasks=TaskService(db, clock, Cleanups(cleanups, keeping)),
        task_reads=TaskReads(db, summaries),
        access=access,
        watchdog=TaskWatchdog(db, clock, summaries, timeout=silent_after, interval=watch_every),
    )
