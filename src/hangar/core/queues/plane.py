"""The queues core as the faces and the executor reach it."""

from __future__ import annotations

from dataclasses import dataclass

from hangar.core.clock import Clock
from hangar.core.queues.queueing import Queueing
from hangar.core.queues.reads import QueueReads
from hangar.core.queues.service import QueueService
from hangar.core.queues.workers import UserNames, WorkerService
from hangar.core.scoped import Database
from hangar.core.tracking.tasks.experiments import Experiments


@dataclass
class QueuePlane:
    service: QueueService  # queues, entries, the atomic pop
    reads: QueueReads
    queueing: Queueing  # tasks.enqueue / dequeue / stop
    workers: WorkerService


def build_queue_plane(
    db: Database,
    clock: Clock,
    experiments: Experiments,
    service: QueueService,
    names: UserNames | None = None,
) -> QueuePlane:
    """``service`` is built first: the tracking part tells it about deleted tasks;
    ``names``: how workers' users are named."""
    reads = QueueReads(db, clock, service)
    return QueuePlane(
        service=service,
        reads=reads,
        queueing=Queueing(service, reads, experiments.tasks, experiments.task_reads),
        workers=WorkerService(db, clock, experiments.tasks, names, experiments.task_reads),
    )
