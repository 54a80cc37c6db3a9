"""Per-task figures of the events: last iteration, last report, and the series' aggregates."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hangar.core.tracking.contracts import TaskId
from hangar.core.tracking.metrics.repo.sql import execute_many, greatest, marks
from hangar.db.tables.tracking_events import EventTaskRow, MetricSeriesRow

TASKS = cast(Table, EventTaskRow.__table__)
SERIES = cast(Table, MetricSeriesRow.__table__)


@dataclass(frozen=True, slots=True)
class SeriesFigures:
    """A series' aggregates as stored."""

    task: TaskId
    metric: str
    variant: str
    count: int
    value_sum: float
    last_value: float | None
    last_iter: int | None
    min_value: float | None
    min_iter: int | None
    max_value: float | None
    max_iter: int | None
    first_value: float | None
    first_iter: int | None
    x_axis_label: str | None


async def touch(conn: AsyncConnection, last: Mapping[TaskId, int | None], now_ms: int) -> None:
    """Record a report at ``now_ms`` for each task, raising its last iteration to the given
    one (None: the batch had no iteration to count)."""
    table = "tracking_event_tasks"
    sql = (
        f"INSERT INTO {table} (task_id, last_iteration, last_update) VALUES ({marks(conn, 3)}) "
        "ON CONFLICT (task_id) DO UPDATE SET last_update = excluded.last_update, "
        f"last_iteration = {greatest(conn, f'{table}.last_iteration', 'excluded.last_iteration')}"
    )
    rows = [(task, 0 if it is None else it, now_ms) for task, it in last.items()]
    await execute_many(conn, sql, rows)


async def figures(
    conn: AsyncConnection, tasks: Collection[TaskId]
) -> tuple[dict[TaskId, tuple[int, int]], list[SeriesFigures]]:
    """The tasks' (last iteration, last update) and their series' aggregates (in order of
    creation)."""
    found = {
        task: (int(it), int(at))
        for task, it, at in await conn.execute(
            select(TASKS.c.task_id, TASKS.c.last_iteration, TASKS.c.last_update).where(
                TASKS.c.task_id.in_(tasks)
            )
        )
    }
    c = SERIES.c
    query = (
        select(
            c.task_id,
            c.metric,
            c.variant,
            c.count,
            c.value_sum,
            c.last_value,
            c.last_iter,
            c.min_value,
            c.min_iter,
            c.max_value,
            c.max_iter,
            c.first_value,
            c.first_iter,
            c.x_axis_label,
        )  # fmt: skip
        .where(c.task_id.in_(tasks))
        .order_by(c.id)
    )
    return found, [SeriesFigures(*cast(tuple[Any, ...], row)) for row in await conn.execute(query)]


async def forget(conn: AsyncConnection, tasks: Collection[TaskId]) -> None:
    await conn.execute(delete(TASKS).where(TASKS.c.task_id.in_(tasks)))
