"""Tracking's parts, built together: each part's service is a field, wired by protocol."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.storage.plane import StoragePlane
from hangar.core.tracking.contracts import MetricsSummaries, TaskCleanup
from hangar.core.tracking.tasks.experiments import Experiments, NoSummaries, build_experiments
from hangar.core.tracking.tasks.reads import TaskDirectory
from hangar.db.engine import DbSession
from hangar.settings import Settings


@dataclass
class TrackingPlane:
    """Experiment tracking as the faces reach it."""

    experiments: Experiments  # projects and tasks


def build_tracking_plane(
    settings: Settings,
    sessions: async_sessionmaker[DbSession],
    clock: Clock,
    storage: StoragePlane,
) -> TrackingPlane:
    del settings, storage  # the parts take what they need as they arrive
    access = TaskDirectory(sessions)  # the TaskAccess the other parts take
    summaries: MetricsSummaries = NoSummaries()  # until the metrics part provides them
    cleanups: list[TaskCleanup] = []  # parts keeping per-task data (events, models, files)
    experiments = build_experiments(
        sessions, clock, access=access, summaries=summaries, cleanups=cleanups
    )
    return TrackingPlane(experiments=experiments)
