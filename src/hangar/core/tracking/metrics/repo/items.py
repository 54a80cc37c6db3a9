"""Plots, debug images and vectors: one row per (task, metric, variant, iteration)."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from hangar.core.tracking.contracts import TaskId
from hangar.core.tracking.metrics.models import Event, EventKind, ImageIn, PlotIn, VectorIn
from hangar.db.tables.tracking_events import DebugImageRow, PlotRow, VectorRow

COMPRESS_FROM = 100_000
"""Plots of at least this many characters are stored zlib-compressed."""

TABLES: dict[EventKind, Table] = {
    EventKind.PLOT: cast(Table, PlotRow.__table__),
    EventKind.IMAGE: cast(Table, DebugImageRow.__table__),
    EventKind.VECTOR: cast(Table, VectorRow.__table__),
}
_PAYLOAD = {
    EventKind.PLOT: ("compressed", "plot_len", "plot"),
    EventKind.IMAGE: ("key", "url"),
    EventKind.VECTOR: ("values",),
}
_IDENTITY = {
    EventKind.PLOT: ("task_id", "metric", "variant", "iter"),
    EventKind.IMAGE: ("task_id", "metric", "variant", "iter"),
    EventKind.VECTOR: ("task_id", "metric", "variant", "iter"),
}


def _plot_payload(plot: str) -> tuple[bool, int, bytes]:
    data = plot.encode()
    if len(plot) >= COMPRESS_FROM:
        return True, len(plot), zlib.compress(data, 6)
    return False, len(plot), data


def plot_text(compressed: bool, data: bytes) -> str:
    return (zlib.decompress(data) if compressed else bytes(data)).decode()


def _payload(item: PlotIn | ImageIn | VectorIn) -> dict[str, Any]:
    if isinstance(item, PlotIn):
        compressed, length, data = _plot_payload(item.plot)
        return {"compressed": compressed, "plot_len": length, "plot": data}
    if isinstance(item, ImageIn):
        return {"key": item.key, "url": item.url}
    return {"values": item.values}


async def write(
    conn: AsyncConnection,
    kind: EventKind,
    items: Sequence[PlotIn | ImageIn | VectorIn],
    now_ms: int,
) -> None:
    """Store ``items`` of one kind; an item reported again replaces the stored one."""
    if not items:
        return
    table = TABLES[kind]
    rows = [
        {
            "task_id": i.task,
            "metric": i.metric,
            "variant": i.variant,
            "iter": i.iter,
            "timestamp": i.timestamp,
            "worker": i.worker,
            "written_at": now_ms,
            **_payload(i),
        }  # fmt: skip
        for i in items
    ]
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    statement = insert(table)
    changed = ("timestamp", "worker", "written_at", *_PAYLOAD[kind])
    statement = statement.on_conflict_do_update(
        index_elements=list(_IDENTITY[kind]),
        set_={c: statement.excluded[c] for c in changed},
    )
    await conn.execute(statement, rows)


def _event(kind: EventKind, row: Any) -> Event:
    common = {
        "kind": kind,
        "id": row.id,
        "task": row.task_id,
        "metric": row.metric,
        "variant": row.variant,
        "iter": row.iter,
        "timestamp": row.timestamp,
        "worker": row.worker,
        "written_at": row.written_at,
    }
    if kind is EventKind.PLOT:
        return Event(**common, plot=plot_text(row.compressed, row.plot))
    if kind is EventKind.IMAGE:
        return Event(**common, key=row.key, url=row.url)
    return Event(**common, values=list(row.values))


async def by_ids(conn: AsyncConnection, kind: EventKind, ids: Collection[int]) -> list[Event]:
    """The events of ``ids``, in order of id."""
    table = TABLES[kind]
    rows = await conn.execute(select(table).where(table.c.id.in_(ids)).order_by(table.c.id))
    return [_event(kind, row) for row in rows]


async def keys(
    conn: AsyncConnection,
    kind: EventKind,
    tasks: Collection[TaskId],
    metric: str | None = None,
    variants: Collection[str] = (),
) -> list[tuple[int, TaskId, str, str, int]]:
    """(id, task, metric, variant, iter) of the tasks' events, newest iteration first."""
    t = TABLES[kind]
    query = select(t.c.id, t.c.task_id, t.c.metric, t.c.variant, t.c.iter).where(
        t.c.task_id.in_(tasks)
    )
    if metric is not None:
        query = query.where(t.c.metric == metric)
    if variants:
        query = query.where(t.c.variant.in_(variants))
    query = query.order_by(t.c.iter.desc(), t.c.id.desc())
    return [(r[0], r[1], r[2], r[3], r[4]) for r in await conn.execute(query)]


async def page(
    conn: AsyncConnection, kind: EventKind, task: TaskId, after: int | None, limit: int, desc: bool
) -> tuple[list[Event], int]:
    """A task's events of one kind in order of report (id), after ``after``; and the total."""
    t = TABLES[kind]
    query = select(t).where(t.c.task_id == task)
    if after is not None:
        query = query.where(t.c.id < after if desc else t.c.id > after)
    query = query.order_by(t.c.id.desc() if desc else t.c.id).limit(limit)
    events = [_event(kind, row) for row in await conn.execute(query)]
    return events, await count(conn, kind, task)


async def count(conn: AsyncConnection, kind: EventKind, task: TaskId) -> int:
    t = TABLES[kind]
    total = await conn.scalar(select(func.count()).select_from(t).where(t.c.task_id == task))
    return int(total or 0)


async def metric_names(
    conn: AsyncConnection, kind: EventKind, tasks: Collection[TaskId]
) -> list[tuple[TaskId, str]]:
    t = TABLES[kind]
    query = select(t.c.task_id, t.c.metric).where(t.c.task_id.in_(tasks)).distinct()
    return [(r[0], r[1]) for r in await conn.execute(query)]


async def metric_variants(
    conn: AsyncConnection, kind: EventKind, tasks: Collection[TaskId]
) -> list[tuple[str, str]]:
    """The distinct (metric, variant) of the tasks' events of ``kind``."""
    t = TABLES[kind]
    query = select(t.c.metric, t.c.variant).where(t.c.task_id.in_(tasks)).distinct()
    return [(r[0], r[1]) for r in await conn.execute(query)]


async def delete_tasks(conn: AsyncConnection, tasks: Collection[TaskId]) -> int:
    gone = 0
    for table in TABLES.values():
        result = await conn.execute(delete(table).where(table.c.task_id.in_(tasks)))
        gone += int(result.rowcount or 0)
    return gone


async def image_urls(conn: AsyncConnection, tasks: Collection[TaskId]) -> list[str]:
    """The urls of the tasks' debug images (each once)."""
    table = TABLES[EventKind.IMAGE]
    query = select(table.c.url).where(table.c.task_id.in_(tasks), table.c.url != "").distinct()
    return [url for url in (await conn.scalars(query)) if url]
