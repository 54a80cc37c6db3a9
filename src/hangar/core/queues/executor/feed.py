"""The queues part as the executor sees it: the queues Hangar serves, the atomic pop, and
the workers registry where the executor shows as ``hangar:<scaling group>``."""

from __future__ import annotations

from hangar.core.identity.reads import DirectoryReads
from hangar.core.principal import Principal
from hangar.core.queues.executor.models import SYSTEM, Popped, ServedQueue
from hangar.core.queues.models import ServedBy
from hangar.core.queues.reads import QueueReads
from hangar.core.queues.service import QueueService
from hangar.core.queues.workers import HANGAR_WORKER_TAG, WorkerService


class QueueFeedOf:
    """``QueueFeed`` over the queue service and reads; ``directory`` names the domains
    whose default queues it keeps."""

    def __init__(
        self, service: QueueService, reads: QueueReads, directory: DirectoryReads | None = None
    ) -> None:
        self._service, self._reads, self._directory = service, reads, directory

    async def ensure_defaults(self) -> None:
        if self._directory is None:
            return
        for domain in await self._directory.domains(SYSTEM):
            await self._service.ensure_default(domain.name)

    async def served(self) -> list[ServedQueue]:
        found = await self._reads.served_by(ServedBy.HANGAR)
        return [
            ServedQueue(
                q.id,
                q.name,
                q.scaling_group,
                q.resource_preset,
                tuple(e.task_id for e in q.entries),
            )  # fmt: skip
            for q in found
        ]

    async def pop(self, queue_id: str) -> Popped | None:
        entry = await self._service.pop(queue_id)
        return None if entry is None else Popped(entry.task_id, entry.queue_id)

    async def put_back(self, queue_id: str, task_id: str) -> None:
        await self._service.put(queue_id, task_id)


class WorkerReportsOf:
    """``WorkerReports`` over the workers registry: the report is made as the task's owner
    (whose task it names), in the owner's domain; the row is tagged as Hangar's own, so the
    reads show it as Hangar's worker, never as the owner's."""

    def __init__(self, workers: WorkerService) -> None:
        self._workers = workers

    async def report(
        self, owner: Principal, name: str, *, queue_ids: list[str], task_id: str | None
    ) -> None:
        await self._workers.report(
            owner, name, task=task_id, queue=queue_ids[0] if task_id and queue_ids else None,
            queues=queue_ids, system_tags=[HANGAR_WORKER_TAG],
        )  # fmt: skip


__all__ = ["QueueFeedOf", "WorkerReportsOf"]
