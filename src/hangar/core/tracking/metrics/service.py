"""Writes of a task's events, the summaries aggregated on write, and their removal.

A batch is written in one transaction, committed before :meth:`MetricsService.add` returns:
what a caller is told was added survives a crash of the server right after.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import NotFound
from hangar.core.principal import Principal
from hangar.core.tracking.contracts import Cleaned, MetricsSummary, TaskAccess, TaskId, TaskRef
from hangar.core.tracking.metrics.models import (
    MAX_SERIES_SUMMARIZED,
    SINGLE_VALUE_ITER,
    AddResult,
    EventIn,
    EventKind,
    ImageIn,
    LogIn,
    PlotIn,
    ScalarIn,
    VectorIn,
)
from hangar.core.tracking.metrics.repo import items, logs, scalars, tasks
from hangar.core.tracking.metrics.repo.tasks import SeriesFigures
from hangar.db.engine import DbSession, engine_of

UNKNOWN_TASK = "invalid task id"
UNKNOWN_MODEL = "invalid model id"
CHUNK = 500  # ids per look-up: databases bound the parameters of one statement


class ModelMetrics(Protocol):
    """The models part as events meet it: whose events a principal may add, and where the
    figures of a model's events go (its ``last_metrics``)."""

    async def writable(self, principal: Principal, ids: Collection[str]) -> set[str]: ...

    async def record_metrics(self, figures: Mapping[str, MetricsSummary]) -> None: ...


class MetricsService:
    """Adds and removes events; implements ``MetricsSummaries`` and ``TaskCleanup``."""

    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        access: TaskAccess,
        models: ModelMetrics | None = None,
    ) -> None:
        self._engine: AsyncEngine = engine_of(sessions)
        self._clock = clock
        self._access = access
        self._models = models

    async def add(
        self,
        principal: Principal,
        events: Sequence[EventIn],
        refused: Mapping[str, int] | None = None,
        model_events: Sequence[EventIn] = (),
    ) -> AddResult:
        """Store the ``events`` of tasks and the ``model_events`` of models (their ``task``
        names the model) the principal may write; the others (and the ``refused`` ones the
        caller could not read: reason -> count) count as errors. A model's events are kept
        under its id and summed up into its ``last_metrics``."""
        reasons = Counter(refused or {})
        allowed: set[str] = set()
        ids = sorted({event.task for event in events})
        for start in range(0, len(ids), CHUNK):  # bounded lists of ids per query
            allowed |= set(await self._access.writable(principal, ids[start : start + CHUNK]))
        accepted = [e for e in events if e.task in allowed]
        reasons[UNKNOWN_TASK] += len(events) - len(accepted)
        models = await self._writable_models(principal, {e.task for e in model_events})
        for_models = [e for e in model_events if e.task in models]
        reasons[UNKNOWN_MODEL] += len(model_events) - len(for_models)
        if accepted or for_models:
            await self._write([*accepted, *for_models])
        if for_models and self._models is not None:
            await self._models.record_metrics(await self.summaries(models))
        reasons = +reasons  # drop the reasons counted zero times
        return AddResult(len(accepted) + len(for_models), sum(reasons.values()), dict(reasons))

    async def _writable_models(self, principal: Principal, wanted: set[str]) -> set[str]:
        if not wanted or self._models is None:
            return set()
        ids, found = sorted(wanted), set()
        for start in range(0, len(ids), CHUNK):
            found |= await self._models.writable(principal, ids[start : start + CHUNK])
        return found

    async def _write(self, events: Sequence[EventIn]) -> None:
        points: list[ScalarIn] = []
        lines: list[LogIn] = []
        others: dict[EventKind, list[Any]] = {kind: [] for kind in items.TABLES}
        last: dict[TaskId, int | None] = {}
        for event in events:
            if isinstance(event, ScalarIn):
                points.append(event)
            elif isinstance(event, LogIn):
                lines.append(event)
                last.setdefault(event.task, None)
                continue
            else:
                others[_kind(event)].append(event)
            it = event.iter if event.iter != SINGLE_VALUE_ITER else None
            before = last.get(event.task)
            last[event.task] = it if before is None or (it is not None and it > before) else before
        now_ms = int(self._clock.time() * 1000)
        async with self._engine.begin() as conn:
            if points:
                await scalars.write(conn, points)
            for kind, found in others.items():
                await items.write(conn, kind, found, now_ms)
            await logs.write(conn, lines, now_ms)
            await tasks.touch(conn, last, now_ms)

    async def delete_for_task(self, principal: Principal, task: TaskId) -> int:
        """Remove every event of ``task``; how many. NotFound when the principal may not
        change the task."""
        if task not in await self._access.writable(principal, [task]):
            raise NotFound("task", f"Invalid task id: {task}")
        return await self._delete([task])

    async def clear_log(
        self, principal: Principal, task: TaskId, older_than_seconds: float | None = None
    ) -> int:
        """Remove the task's log lines (those older than ``older_than_seconds`` when given);
        how many. NotFound when the principal may not change the task."""
        if task not in await self._access.writable(principal, [task]):
            raise NotFound("task", f"Invalid task id: {task}")
        before = None
        if older_than_seconds is not None:
            before = int((self._clock.time() - older_than_seconds) * 1000)
        async with self._engine.begin() as conn:
            return await logs.delete_before(conn, task, before)

    async def tasks_deleted(self, refs: Collection[TaskRef]) -> Cleaned:
        """``TaskCleanup``: the tasks are gone, and so go their events (counted)."""
        if not refs:
            return Cleaned()
        ids = [ref.id for ref in refs]
        async with self._engine.connect() as conn:
            urls = tuple(await items.image_urls(conn, ids))
        return Cleaned(events=await self._delete(ids), event_urls=urls)

    async def models_deleted(self, ids: Collection[str]) -> int:
        """The models are gone: so go their own events (kept under the model's id)."""
        return await self._delete(ids)

    async def _delete(self, ids: Collection[TaskId]) -> int:
        async with self._engine.begin() as conn:
            gone = await scalars.delete_tasks(conn, ids)
            gone += await items.delete_tasks(conn, ids)
            gone += await logs.delete_tasks(conn, ids)
            await tasks.forget(conn, ids)
        return gone

    async def summaries(self, ids: Collection[TaskId]) -> dict[TaskId, MetricsSummary]:
        """``MetricsSummaries``: last iteration, last report and ``last_metrics`` of the tasks
        that have events (the others are left out)."""
        if not ids:
            return {}
        async with self._engine.connect() as conn:
            found, series = await tasks.figures(conn, ids)
        metrics: dict[TaskId, dict[str, dict[str, dict[str, Any]]]] = {}
        counted: Counter[TaskId] = Counter()
        for figures in series:
            if counted[figures.task] >= MAX_SERIES_SUMMARIZED:
                continue
            counted[figures.task] += 1
            entry = metrics.setdefault(figures.task, {}).setdefault(_md5(figures.metric), {})
            entry[_md5(figures.variant)] = _entry(figures)
        return {
            task: MetricsSummary(
                last_iteration=it,
                last_metrics=metrics.get(task, {}),
                last_update=datetime.fromtimestamp(at / 1000, UTC),
            )
            for task, (it, at) in found.items()
        }


def _kind(event: EventIn) -> EventKind:
    if isinstance(event, PlotIn):
        return EventKind.PLOT
    if isinstance(event, ImageIn):
        return EventKind.IMAGE
    assert isinstance(event, VectorIn)
    return EventKind.VECTOR


def _md5(name: str) -> str:
    return hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()


def _entry(f: SeriesFigures) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "metric": f.metric,
        "variant": f.variant,
        "value": f.last_value,
        "count": f.count,
    }
    if f.min_iter is not None:
        entry |= {"min_value": f.min_value, "min_value_iteration": f.min_iter}
        entry |= {"max_value": f.max_value, "max_value_iteration": f.max_iter}
    if f.first_iter is not None:
        entry |= {"first_value": f.first_value, "first_value_iteration": f.first_iter}
    if f.count:
        entry["mean_value"] = f.value_sum / f.count
    if f.x_axis_label is not None:
        entry["x_axis_label"] = f.x_axis_label
    return entry
