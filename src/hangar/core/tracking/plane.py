"""Tracking's parts, built together: each part's service is a field, wired by protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.diskspace import DiskReserve
from hangar.core.storage.plane import StoragePlane
from hangar.core.tracking.contracts import MetricsSummaries, TaskCleanup
from hangar.core.tracking.credentials.service import CredentialLabels
from hangar.core.tracking.files import TrackingFiles
from hangar.core.tracking.metrics.reads import MetricsReads
from hangar.core.tracking.metrics.service import MetricsService
from hangar.core.tracking.models.service import ModelsAsTasks, ModelsService
from hangar.core.tracking.tasks.experiments import Experiments, build_experiments
from hangar.core.tracking.tasks.reads import ProjectReads, TaskDirectory
from hangar.db.engine import DbSession
from hangar.settings import Settings


@dataclass
class TrackingPlane:
    """Experiment tracking as the faces reach it."""

    experiments: Experiments  # projects and tasks
    models: ModelsService
    files: TrackingFiles  # the file server's store
    metrics: MetricsService  # task events: writes, summaries, cleanup
    metric_reads: MetricsReads
    model_metric_reads: MetricsReads  # a model's own events (``model_events``)
    credential_labels: CredentialLabels


def build_tracking_plane(
    settings: Settings,
    sessions: async_sessionmaker[DbSession],
    clock: Clock,
    storage: StoragePlane,
    task_cleanups: Sequence[TaskCleanup] = (),
) -> TrackingPlane:
    """``task_cleanups``: parts above tracking that keep per-task data (queue entries)."""
    access = TaskDirectory(sessions)  # the TaskAccess the other parts take
    models = ModelsService(sessions, clock, access, ProjectReads(sessions, clock))
    metrics = MetricsService(sessions, clock, access, models)
    models.keep_events_in(metrics)
    summaries: MetricsSummaries = metrics
    hosts = storage.service.hosts
    reserve = DiskReserve(settings.data_dir, settings.storage.disk_reserve_bytes)
    files = TrackingFiles(
        hosts.get(hosts.default or "local"), access, reserve, settings.tracking.files_quota_bytes,
        user_quota_bytes=settings.tracking.files_user_quota_bytes, owned=access,
    )  # fmt: skip
    cleanups: list[TaskCleanup] = [metrics, *task_cleanups]  # per-task data
    experiments = build_experiments(
        sessions, clock, access=access, summaries=summaries, cleanups=cleanups,
        keeping=[models, files],
        silent_after=settings.tracking.task_timeout_seconds,
        watch_every=settings.tracking.watchdog_seconds,
    )  # fmt: skip
    return TrackingPlane(
        experiments=experiments,
        models=models,
        files=files,
        metrics=metrics,
        metric_reads=MetricsReads(sessions, access),
        model_metric_reads=MetricsReads(sessions, ModelsAsTasks(models)),
        credential_labels=CredentialLabels(sessions),
    )
