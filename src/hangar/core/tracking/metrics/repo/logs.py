"""Log lines: appended, never deduplicated, read by time."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import cast

from sqlalchemy import Table, and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hangar.core.tracking.contracts import TaskId
from hangar.core.tracking.metrics.models import Event, EventKind, LogIn
from hangar.db.tables.tracking_events import LogRow

LOGS = cast(Table, LogRow.__table__)


async def write(conn: AsyncConnection, lines: Sequence[LogIn], now_ms: int) -> None:
    if lines:
        rows = [
            {
                "task_id": x.task,
                "timestamp": x.timestamp,
                "level": x.level,
                "worker": x.worker,
                "msg": x.msg,
                "written_at": now_ms,
            }  # fmt: skip
            for x in lines
        ]
        await conn.execute(insert(LOGS), rows)


def _event(row: LogRow) -> Event:
    return Event(
        kind=EventKind.LOG, id=row.id, task=row.task_id, timestamp=row.timestamp,
        level=row.level, worker=row.worker, msg=row.msg, written_at=row.written_at,
    )  # fmt: skip


async def around(
    conn: AsyncConnection,
    task: TaskId,
    limit: int,
    *,
    earlier: bool,
    start: tuple[int, int] | None,
) -> tuple[list[Event], int]:
    """Up to ``limit`` lines of ``task`` next to ``start`` (timestamp, id): the newest ones
    before it when ``earlier`` (newest first), else the oldest after it (oldest first); from
    the end or the beginning when ``start`` is None. Also the task's number of lines."""
    c = LOGS.c
    query = select(LOGS).where(c.task_id == task)
    if start is not None:
        ts, ident = start
        if earlier:
            query = query.where(or_(c.timestamp < ts, and_(c.timestamp == ts, c.id < ident)))
        else:
            query = query.where(or_(c.timestamp > ts, and_(c.timestamp == ts, c.id > ident)))
    if earlier:
        query = query.order_by(c.timestamp.desc(), c.id.desc())
    else:
        query = query.order_by(c.timestamp, c.id)
    events = [_event(row) for row in await conn.execute(query.limit(limit))]  # type: ignore[arg-type]
    return events, await count(conn, task)


async def count(conn: AsyncConnection, task: TaskId) -> int:
    query = select(func.count()).select_from(LOGS).where(LOGS.c.task_id == task)
    return int(await conn.scalar(query) or 0)


async def delete_tasks(conn: AsyncConnection, tasks: Collection[TaskId]) -> int:
    result = await conn.execute(delete(LOGS).where(LOGS.c.task_id.in_(tasks)))
    return int(result.rowcount or 0)


async def delete_before(conn: AsyncConnection, task: TaskId, before: int | None) -> int:
    """Remove the task's lines older than ``before`` (ms; None: all of them)."""
    query = delete(LOGS).where(LOGS.c.task_id == task)
    if before is not None:
        query = query.where(LOGS.c.timestamp < before)
    result = await conn.execute(query)
    return int(result.rowcount or 0)
