"""Scoped reads of queues: a principal sees its domain's queues (every user may read and
use them; administrators change them). :meth:`QueueReads.served_by` is the executor's view
across domains."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from hangar.core.clock import Clock
from hangar.core.principal import Principal
from hangar.core.queues.models import (
    DEFAULT,
    Entry,
    Queue,
    QueueNotFound,
    QueueSample,
    QueueSeries,
    ServedBy,
)
from hangar.core.queues.repo import queues as repo
from hangar.core.queues.service import QueueService
from hangar.core.queues.workers import widened
from hangar.core.scoped import Database
from hangar.core.tracking import query as q
from hangar.db.engine import engine_of


class QueueReads:
    def __init__(self, db: Database, clock: Clock, service: QueueService) -> None:
        self._engine = engine_of(db)
        self._clock = clock
        self._service = service  # makes each domain's default queue on first sight

    async def all(
        self,
        principal: Principal,
        *,
        ids: Collection[str] | None = None,
        with_entries: bool = True,
    ) -> list[Queue]:
        """The domain's queues (narrowed to ``ids``), with their entries in order."""
        await self._service.ensure_default(principal.domain_name)
        async with self._engine.connect() as db:
            return await repo.queues(db, principal.domain_name, ids=ids, with_entries=with_entries)

    async def search(
        self,
        principal: Principal,
        query: q.Query,
        *,
        ids: Collection[str] | None = None,
        max_entries: int | None = None,
    ) -> list[dict[str, Any]]:
        """Queue documents matching ``query`` (entries cut to ``max_entries``)."""
        found = await self.all(principal, ids=ids)
        return q.run([x.document(max_entries) for x in found], query)

    async def get(self, principal: Principal, queue_id: str, *, with_entries: bool = True) -> Queue:
        """The queue by id; QueueNotFound for an unknown id (or a name)."""
        await self._service.ensure_default(principal.domain_name)
        async with self._engine.connect() as db:
            found = await repo.queues(
                db, principal.domain_name, ids=[queue_id], with_entries=with_entries
            )
        if not found:
            raise QueueNotFound(queue_id)
        return found[0]

    async def named(self, principal: Principal, name: str) -> Queue | None:
        await self._service.ensure_default(principal.domain_name)
        async with self._engine.connect() as db:
            found = await repo.queues(db, principal.domain_name, names=[name], with_entries=False)
        return found[0] if found else None

    async def default(self, principal: Principal) -> Queue:
        """The queue with the system tag ``default`` (the oldest, if several)."""
        for queue in await self.all(principal, with_entries=False):
            if DEFAULT in queue.system_tags:
                return queue
        raise QueueNotFound(DEFAULT)

    async def num_entries(self, principal: Principal, queue_id: str) -> int:
        return len((await self.get(principal, queue_id)).entries)

    async def position(self, principal: Principal, task_id: str) -> tuple[Queue, int] | None:
        """The queue holding the task and its 0-based place there, None if none does."""
        async with self._engine.connect() as db:
            entry = await repo.entry_of(db, task_id)
        if entry is None:
            return None
        try:
            queue = await self.get(principal, entry.queue_id)
        except QueueNotFound:
            return None
        index = next((i for i, e in enumerate(queue.entries) if e.task_id == task_id), None)
        return None if index is None else (queue, index)

    async def served_by(self, who: ServedBy) -> list[Queue]:
        """Every domain's queues that ``who`` serves, with their entries (no principal:
        for the executor)."""
        async with self._engine.connect() as db:
            return await repo.queues(db, None, served_by=who)

    async def peek(self, queue_id: str) -> Entry | None:
        """The queue's first entry, left in place."""
        async with self._engine.connect() as db:
            found = await repo.entries(db, [queue_id])
        entries = found.get(queue_id) or []
        return entries[0] if entries else None

    async def metrics(
        self,
        principal: Principal,
        queue_ids: Collection[str],
        since: datetime,
        until: datetime,
        interval: int,
    ) -> list[QueueSeries]:
        """Per queue (the domain's all when none are named): samples bucketed by
        ``interval`` seconds; a bucket takes its largest wait and that sample's length."""
        interval = widened(since, until, interval)
        queues = await self.all(principal, ids=list(queue_ids) or None)
        async with self._engine.connect() as db:
            found = await repo.samples(db, [q.id for q in queues], since, until)
        by_queue: dict[str, list[QueueSample]] = {q.id: [] for q in queues}
        for sample in found:
            by_queue[sample.queue_id].append(sample)
        return [bucketed(qid, samples, interval) for qid, samples in by_queue.items()]


def bucketed(queue_id: str, samples: list[QueueSample], interval: int) -> QueueSeries:
    """The samples in buckets of ``interval`` seconds (pure)."""
    buckets: dict[int, QueueSample] = {}
    for sample in samples:
        start = int(sample.at.timestamp()) // interval * interval
        best = buckets.get(start)
        if best is None or sample.wait_seconds >= best.wait_seconds:
            buckets[start] = sample
    series = QueueSeries(queue_id)
    for start in sorted(buckets):
        series.dates.append(start)
        series.wait_seconds.append(round(buckets[start].wait_seconds, 3))
        series.lengths.append(buckets[start].length)
    return series
