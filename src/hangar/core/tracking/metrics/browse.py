"""Reads the ClearML web app browses a task's events with: samples one at a time, the
metrics and variants of several tasks, the latest scalar values."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from hangar.core.principal import Principal
from hangar.core.tracking.contracts import TaskId, TaskRef
from hangar.core.tracking.metrics.models import Event, EventKind
from hangar.core.tracking.metrics.repo import items, scalars


@dataclass(frozen=True, slots=True)
class SampleKey:
    """Where a plot or debug image sits: its id, metric, variant and iteration."""

    id: int
    metric: str
    variant: str
    iter: int


@dataclass(frozen=True, slots=True)
class LatestValue:
    metric: str
    variant: str
    last: float | None
    last_100: float | None  # the average of the last 100 values
    last_iter: int | None
    last_timestamp: int | None


class BrowseReads:
    """Mixed into :class:`~hangar.core.tracking.metrics.reads.MetricsReads`."""

    _engine: AsyncEngine

    async def task(self, principal: Principal, task: TaskId) -> TaskRef:
        raise NotImplementedError

    async def tasks(self, principal: Principal, ids: Collection[TaskId]) -> dict[TaskId, TaskRef]:
        raise NotImplementedError

    async def sample_keys(
        self, principal: Principal, kind: EventKind, task: TaskId
    ) -> list[SampleKey]:
        """Every plot or image of the task, by iteration, metric and variant."""
        await self.task(principal, task)
        async with self._engine.connect() as conn:
            found = await items.keys(conn, kind, [task])
        keys = [SampleKey(ident, metric, variant, it) for ident, _t, metric, variant, it in found]
        keys.sort(key=lambda k: (k.iter, k.metric, k.variant, k.id))
        return keys

    async def sample(
        self, principal: Principal, kind: EventKind, task: TaskId, ident: int
    ) -> Event | None:
        """The plot or image ``ident`` of the task (None: gone meanwhile)."""
        found = await self.samples(principal, kind, task, [ident])
        return found[0] if found else None

    async def samples(
        self, principal: Principal, kind: EventKind, task: TaskId, idents: Collection[int]
    ) -> list[Event]:
        """The task's plots or images among ``idents``, in order of id (gone ones left out)."""
        await self.task(principal, task)
        async with self._engine.connect() as conn:
            found = await items.by_ids(conn, kind, idents)
        return [event for event in found if event.task == task]

    async def metric_variants(
        self, principal: Principal, ids: Sequence[TaskId], kind: EventKind
    ) -> list[tuple[str, str]]:
        """The sorted (metric, variant) pairs the tasks reported events of ``kind`` under."""
        await self.tasks(principal, ids)
        async with self._engine.connect() as conn:
            if kind is EventKind.SCALAR:
                found = {(r.metric, r.variant) for r in await scalars.find_series(conn, ids)}
            elif kind in items.TABLES:
                found = set(await items.metric_variants(conn, kind, ids))
            else:
                found = set()
        return sorted(found)

    async def latest_values(self, principal: Principal, task: TaskId) -> list[LatestValue]:
        """Each scalar series' last value and the average of its last 100, sorted."""
        await self.task(principal, task)
        async with self._engine.connect() as conn:
            series = await scalars.find_series(conn, [task])
            values = await scalars.last_values(conn, [ref.id for ref in series])
        return [LatestValue(ref.metric, ref.variant, *values[ref.id]) for ref in series]
