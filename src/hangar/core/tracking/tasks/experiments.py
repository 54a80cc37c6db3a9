"""The tasks part of tracking, built together: projects and tasks, their writes and reads."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from hangar.core.clock import Clock
from hangar.core.scoped import Database
from hangar.core.tracking.contracts import (
    Cleaned,
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
    """Several cleanups told in turn (events, models, files)."""

    def __init__(self, parts: Sequence[TaskCleanup]) -> None:
        self._parts = tuple(parts)

    async def tasks_deleted(self, tasks: Collection[TaskRef]) -> Cleaned:
        cleaned = Cleaned()
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
    silent_after: float = 7200.0,
    watch_every: float = 900.0,
) -> Experiments:
    """``silent_after``: seconds without a ping, change or event after which an in-progress
    task is stopped; ``watch_every``: how often the watchdog looks."""
    return Experiments(
        projects=ProjectService(db, clock),
        project_reads=ProjectReads(db, clock),
        tasks=TaskService(db, clock, Cleanups(cleanups)),
        task_reads=TaskReads(db, summaries),
        access=access,
        watchdog=TaskWatchdog(db, clock, summaries, timeout=silent_after, interval=watch_every),
    )
