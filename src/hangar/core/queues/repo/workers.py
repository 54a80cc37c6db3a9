"""Workers and their machine-stats reports."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hangar.core.queues.models import Worker, WorkerReport
from hangar.db.tables.queues import WorkerRow, WorkerStatRow

WORKERS = cast(Table, WorkerRow.__table__)
STATS = cast(Table, WorkerStatRow.__table__)
W, S = WORKERS.c, STATS.c


def _worker(row: Any) -> Worker:
    return Worker(
        key=row.id, name=row.name, company=row.domain_name, user=row.user_uuid, ip=row.ip,
        tags=list(row.tags), system_tags=list(row.system_tags), queues=list(row.queues),
        queue=row.queue_id, task=row.task_id, timeout_seconds=row.timeout_seconds,
        register_time=row.register_time, last_activity_time=row.last_activity_time,
        last_report_time=row.last_report_time,
    )  # fmt: skip


async def find(db: AsyncConnection, domain: str, name: str) -> Worker | None:
    stmt = select(WORKERS).where(W.domain_name == domain, W.name == name)
    row = (await db.execute(stmt)).first()
    return None if row is None else _worker(row)


async def insert_worker(db: AsyncConnection, values: Mapping[str, Any]) -> None:
    await db.execute(insert(WORKERS).values(**values))


async def update_worker(db: AsyncConnection, key: int, values: Mapping[str, Any]) -> None:
    await db.execute(update(WORKERS).where(W.id == key).values(**values))


async def delete_worker(db: AsyncConnection, domain: str, name: str) -> int:
    stmt = delete(WORKERS).where(W.domain_name == domain, W.name == name)
    return (await db.execute(stmt)).rowcount


async def workers(
    db: AsyncConnection,
    domain: str | None,
    *,
    since: datetime,
    names: Collection[str] | None = None,
) -> list[Worker]:
    """The workers of ``domain`` (all for None) last heard from at ``since`` or later; the
    caller drops those past their own timeout."""
    stmt = select(WORKERS).where(W.last_activity_time >= since)
    if domain is not None:
        stmt = stmt.where(W.domain_name == domain)
    if names is not None:
        stmt = stmt.where(W.name.in_(list(names)))
    return [_worker(r) for r in await db.execute(stmt.order_by(W.name))]


async def delete_silent(db: AsyncConnection, before: datetime) -> None:
    """Forgets workers not heard from since ``before`` (their stats go with them)."""
    await db.execute(delete(WORKERS).where(W.last_activity_time < before))


async def add_report(
    db: AsyncConnection, key: int, at: datetime, busy: bool, stats: Mapping[str, Any]
) -> None:
    await db.execute(insert(STATS).values(worker_id=key, at=at, busy=busy, stats=dict(stats)))


async def reports(
    db: AsyncConnection, keys: Collection[int], since: datetime, until: datetime
) -> list[WorkerReport]:
    stmt = (
        select(S.worker_id, S.at, S.busy, S.stats)
        .where(S.worker_id.in_(list(keys)), S.at >= since, S.at <= until)
        .order_by(S.at, S.id)
    )
    return [WorkerReport(r.worker_id, r.at, r.busy, dict(r.stats)) for r in await db.execute(stmt)]


async def prune_reports(db: AsyncConnection, before: datetime) -> None:
    await db.execute(delete(STATS).where(S.at < before))
