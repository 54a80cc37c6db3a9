"""Reads of a task's events, scoped to the tasks a principal may see.

A task the principal may not read answers exactly like a task that does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from hangar.core.errors import NotFound
from hangar.core.principal import Principal
from hangar.core.tracking.contracts import TaskAccess, TaskId, TaskRef
from hangar.core.tracking.metrics.browse import BrowseReads
from hangar.core.tracking.metrics.models import (
    Event,
    EventKind,
    Page,
    ScalarPoint,
    Series,
    SeriesPoints,
    XAxis,
)
from hangar.core.tracking.metrics.repo import items, logs, scalars
from hangar.core.tracking.metrics.repo.scalars import SeriesRef
from hangar.db.engine import DbSession, engine_of

MetricFilter = Sequence[tuple[str, Sequence[str]]]
"""(metric, variants) pairs; no variants: all of the metric's."""


@dataclass(frozen=True, slots=True)
class ScalarPage:
    runs: list[SeriesPoints]  # in page order, one run per series
    total: int
    after: tuple[int, int] | None  # where the next page starts; None: this was the last


@dataclass(frozen=True, slots=True)
class ScalarHistory:
    """Every point of some series, read in chunks as it is consumed (a whole history may
    be 100k points: its answer can go out while the rest is read). The task was found
    readable when it was opened."""

    engine: AsyncEngine
    series: list[SeriesRef]  # in reading order
    descending: bool
    chunk: int

    async def runs(self) -> AsyncIterator[SeriesPoints]:
        """Runs of at most ``chunk`` points, series by series in the order of a
        :meth:`MetricsReads.scalar_page` listing; each series read in iteration order."""
        for ref in self.series:
            async for run in self.runs_of(ref):
                yield run

    async def runs_of(self, ref: SeriesRef) -> AsyncIterator[SeriesPoints]:
        """The runs of one of :attr:`series`."""
        async with self.engine.connect() as conn:
            after = None
            while True:
                found = await scalars.rows(conn, ref.id, after, self.chunk, desc=self.descending)
                if found:
                    yield SeriesPoints(ref.task, ref.metric, ref.variant, found)
                if len(found) < self.chunk:
                    break
                after = found[-1][0]

    async def unchanged(self, ref: SeriesRef) -> bool:
        """Whether nothing was written to the series since it was listed (its stamp)."""
        async with self.engine.connect() as conn:
            return await scalars.stamp(conn, ref.id) == ref.stamp


def no_task(task: TaskId) -> NotFound:
    return NotFound("task", f"Invalid task id: {task}")


class MetricsReads(BrowseReads):
    def __init__(self, sessions: async_sessionmaker[DbSession], access: TaskAccess) -> None:
        self._engine: AsyncEngine = engine_of(sessions)
        self._access = access

    async def task(self, principal: Principal, task: TaskId) -> TaskRef:
        """The task, when the principal may read it; NotFound otherwise."""
        found = await self._access.readable(principal, [task])
        if task not in found:
            raise no_task(task)
        return found[task]

    async def tasks(self, principal: Principal, ids: Collection[TaskId]) -> dict[TaskId, TaskRef]:
        """The readable ones of ``ids``; NotFound naming the first other one."""
        found = await self._access.readable(principal, ids)
        for task in ids:
            if task not in found:
                raise no_task(task)
        return found

    async def counts(self, principal: Principal, task: TaskId) -> dict[EventKind, int]:
        """How many events of each kind the task has."""
        await self.task(principal, task)
        async with self._engine.connect() as conn:
            refs = [ref.id for ref in await scalars.find_series(conn, [task])]
            found = {EventKind.SCALAR: await scalars.count_points(conn, refs) if refs else 0}
            for kind in items.TABLES:
                found[kind] = await items.count(conn, kind, task)
            found[EventKind.LOG] = await logs.count(conn, task)
        return found

    async def histograms(
        self,
        principal: Principal,
        ids: Sequence[TaskId],
        *,
        samples: int | None,
        axis: XAxis,
        metrics: MetricFilter = (),
    ) -> list[Series]:
        """Every scalar series of the tasks (sorted by task, metric, variant), each its whole
        history or, with ``samples``, at most that many points: the average y over equal
        intervals of x, at each interval's start."""
        await self.tasks(principal, ids)
        async with self._engine.connect() as conn:
            found = await scalars.find_series(conn, ids, metrics)
            series = [await _series(conn, ref, samples, axis) for ref in found]
        return [s for s in series if s.x]

    async def scalar_page(
        self,
        principal: Principal,
        task: TaskId,
        *,
        metric: str | None = None,
        after: tuple[int, int] | None = None,
        limit: int,
        descending: bool = False,
    ) -> ScalarPage:
        """A page of the task's scalar points (of one metric when given), in order of
        series then iteration (or the reverse), after ``after``."""
        await self.task(principal, task)
        filters = [(metric, ())] if metric is not None else []
        async with self._engine.connect() as conn:
            refs = {ref.id: ref for ref in await scalars.find_series(conn, [task], filters)}
            if not refs:
                return ScalarPage([], 0, None)
            if len(refs) == 1 and (after is None or after[0] in refs):
                return await _one_series(conn, next(iter(refs.values())), after, limit, descending)
            rows = await scalars.points(conn, refs, after, limit, desc=descending)
            whole = after is None and len(rows) < limit  # the page holds every point
            total = len(rows) if whole else await scalars.count_points(conn, refs)
        last = (rows[-1][0], rows[-1][1]) if len(rows) == limit else None
        return ScalarPage(_runs(refs, rows), total, last)

    async def scalar_history(
        self,
        principal: Principal,
        task: TaskId,
        *,
        metric: str | None = None,
        descending: bool = False,
        chunk: int = 10_000,
    ) -> ScalarHistory:
        """All of the task's scalar points (of one metric when given), in the order of
        :meth:`scalar_page`, to be read as they are sent; NotFound now if the task is not
        readable."""
        await self.task(principal, task)
        filters = [(metric, ())] if metric is not None else []
        async with self._engine.connect() as conn:
            refs = await scalars.find_series(conn, [task], filters)
        refs.sort(key=lambda ref: ref.id, reverse=descending)
        return ScalarHistory(self._engine, refs, descending, chunk)

    async def single_values(
        self, principal: Principal, ids: Sequence[TaskId]
    ) -> list[tuple[TaskRef, list[ScalarPoint]]]:
        """Each task's single values (points at the single-value iteration)."""
        refs = await self.tasks(principal, ids)
        async with self._engine.connect() as conn:
            series = {ref.id: ref for ref in await scalars.find_series(conn, ids)}
            rows = await scalars.single_values(conn, series) if series else []
        found: dict[TaskId, list[ScalarPoint]] = {task: [] for task in ids}
        for sid, it, value, ts in rows:
            found[series[sid].task].append(_point(series[sid], it, value, ts))
        return [(refs[task], found[task]) for task in dict.fromkeys(ids)]

    async def series_names(self, principal: Principal, task: TaskId) -> list[tuple[str, str]]:
        """The (metric, variant) of each of the task's scalar series, sorted."""
        await self.task(principal, task)
        async with self._engine.connect() as conn:
            return [(ref.metric, ref.variant) for ref in await scalars.find_series(conn, [task])]

    async def metric_names(
        self, principal: Principal, ids: Sequence[TaskId], kind: EventKind | None
    ) -> dict[TaskId, list[str]]:
        """The sorted metric names each task reported events of ``kind`` (None: any) under."""
        await self.tasks(principal, ids)
        names: dict[TaskId, set[str]] = {task: set() for task in ids}
        async with self._engine.connect() as conn:
            if kind in (None, EventKind.SCALAR):
                for ref in await scalars.find_series(conn, ids):
                    names[ref.task].add(ref.metric)
            for other in items.TABLES:
                if kind in (None, other):
                    for task, metric in await items.metric_names(conn, other, ids):
                        names[task].add(metric)
        return {task: sorted(found) for task, found in names.items()}

    async def log_lines(
        self,
        principal: Principal,
        task: TaskId,
        limit: int,
        *,
        earlier: bool,
        start: tuple[int, int] | None = None,
    ) -> tuple[list[Event], int]:
        """Log lines next to ``start`` (see :func:`repo.logs.around`) and the task's total."""
        await self.task(principal, task)
        async with self._engine.connect() as conn:
            return await logs.around(conn, task, limit, earlier=earlier, start=start)

    async def latest(
        self,
        principal: Principal,
        kind: EventKind,
        ids: Sequence[TaskId],
        iters: int,
        metrics: MetricFilter = (),
    ) -> list[Event]:
        """Plots, images or vectors: for each (task, metric, variant), the events of its last
        ``iters`` distinct iterations, newest first."""
        await self.tasks(principal, ids)
        wanted = {metric: set(variants) for metric, variants in metrics}
        seen: dict[tuple[TaskId, str, str], list[int]] = {}
        chosen = []
        async with self._engine.connect() as conn:
            for ident, task, metric, variant, it in await items.keys(conn, kind, ids):
                if wanted and (
                    metric not in wanted or (wanted[metric] and variant not in wanted[metric])
                ):
                    continue
                taken = seen.setdefault((task, metric, variant), [])
                if it not in taken:
                    if len(taken) >= iters:
                        continue
                    taken.append(it)
                chosen.append(ident)
            events = await items.by_ids(conn, kind, chosen) if chosen else []
        events.sort(key=lambda e: (e.task, e.metric, e.variant, -e.iter, e.id))
        return events

    async def iterations(
        self,
        principal: Principal,
        kind: EventKind,
        task: TaskId,
        *,
        metric: str | None,
        variants: Collection[str],
        iters: int,
        beyond: int | None,
        earlier: bool = True,
    ) -> list[tuple[int, list[Event]]]:
        """The next ``iters`` iterations of the task's events (of one metric and some variants
        when given) beyond iteration ``beyond``: older ones, newest first, when ``earlier``;
        else newer ones, oldest first."""
        await self.task(principal, task)
        async with self._engine.connect() as conn:
            keys = await items.keys(conn, kind, [task], metric, variants)
            picked: dict[int, list[int]] = {}
            for ident, _task, _metric, _variant, it in sorted(
                keys, key=lambda k: k[4], reverse=earlier
            ):
                if beyond is not None and (it >= beyond if earlier else it <= beyond):
                    continue
                if it not in picked and len(picked) >= iters:
                    break
                picked.setdefault(it, []).append(ident)
            events = await items.by_ids(conn, kind, [i for ids in picked.values() for i in ids])
        by_iter: dict[int, list[Event]] = {it: [] for it in picked}
        for event in events:
            by_iter[event.iter].append(event)
        return list(by_iter.items())

    async def events(
        self,
        principal: Principal,
        kind: EventKind,
        task: TaskId,
        *,
        after: int | None,
        limit: int,
        descending: bool = False,
    ) -> Page:
        """Plots, images or vectors of the task in order of report, after ``after``."""
        await self.task(principal, task)
        async with self._engine.connect() as conn:
            found, total = await items.page(conn, kind, task, after, limit, descending)
        last = (0, found[-1].id) if len(found) == limit else None
        return Page(found, total, last)


async def _series(
    conn: AsyncConnection, ref: SeriesRef, samples: int | None, axis: XAxis
) -> Series:
    if samples is not None:
        count, low, high = await scalars.extent(conn, ref.id, axis)
        if count > samples:
            width = -(-(high - low + 1) // samples)
            x, y = await scalars.bucketed(conn, ref.id, axis, low, width)
            return Series(ref.task, ref.metric, ref.variant, x, y)
    x, y = await scalars.history(conn, ref.id, axis)
    return Series(ref.task, ref.metric, ref.variant, x, y)


async def _one_series(
    conn: AsyncConnection,
    ref: SeriesRef,
    after: tuple[int, int] | None,
    limit: int,
    descending: bool,
) -> ScalarPage:
    """:meth:`MetricsReads.scalar_page` of a single series, read as columns."""
    found = await scalars.rows(conn, ref.id, after[1] if after else None, limit, desc=descending)
    whole = after is None and len(found) < limit
    total = len(found) if whole else await scalars.count_points(conn, [ref.id])
    last = (ref.id, found[-1][0]) if len(found) == limit else None
    run = SeriesPoints(ref.task, ref.metric, ref.variant, found)
    return ScalarPage([run] if found else [], total, last)


def _runs(refs: dict[int, SeriesRef], rows: list[scalars.PointRow]) -> list[SeriesPoints]:
    """Rows ordered by series, as one run of points per series."""
    runs = []
    for sid, group in groupby(rows, key=itemgetter(0)):
        ref = refs[sid]
        points = [(it, value, None, ts) for _sid, it, value, ts in group]
        runs.append(SeriesPoints(ref.task, ref.metric, ref.variant, points))
    return runs


def _point(ref: SeriesRef, it: int, value: float | None, ts: int) -> ScalarPoint:
    return ScalarPoint(ref.task, ref.metric, ref.variant, it, value, ts)
