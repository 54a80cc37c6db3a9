"""The executor's runs and their leases: which server process runs each queued task."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hangar.core.queues.executor.models import RunRecord
from hangar.db.tables.queues import ExecutorRunRow

RUNS = cast(Table, ExecutorRunRow.__table__)
R = RUNS.c


def _record(row: Any) -> RunRecord:
    return RunRecord(
        task_id=row.id, user=row.user_uuid, domain=row.domain_name, worker=row.worker,
        queue_id=row.queue_id, access_key=row.access_key, session_id=row.session_id,
        home=row.home, started=row.started,
    )  # fmt: skip


async def open_run(db: AsyncConnection, record: RunRecord, owner: str, expires: datetime) -> None:
    """The run, held by ``owner``; a row an earlier run of the task left is replaced."""
    await db.execute(delete(RUNS).where(R.id == record.task_id))
    await db.execute(insert(RUNS).values(
        id=record.task_id, user_uuid=record.user, domain_name=record.domain,
        worker=record.worker, queue_id=record.queue_id, access_key=record.access_key,
        session_id=record.session_id, home=record.home, started=record.started,
        lease_owner=owner, lease_expires=expires,
    ))  # fmt: skip


async def set_session(db: AsyncConnection, task_id: str, session_id: uuid.UUID, owner: str) -> None:
    stmt = update(RUNS).where(R.id == task_id, R.lease_owner == owner)
    await db.execute(stmt.values(session_id=session_id))


async def renew(
    db: AsyncConnection, task_ids: Collection[str], owner: str, expires: datetime
) -> set[str]:
    """Extends ``owner``'s leases on the runs; returns those it still holds."""
    if not task_ids:
        return set()
    stmt = (
        update(RUNS)
        .where(R.id.in_(list(task_ids)), R.lease_owner == owner)
        .values(lease_expires=expires)
        .returning(R.id)
    )
    return set((await db.execute(stmt)).scalars())


async def close_run(db: AsyncConnection, task_id: str, owner: str) -> None:
    await db.execute(delete(RUNS).where(R.id == task_id, R.lease_owner == owner))


async def take_over(
    db: AsyncConnection, owner: str, home: str, now: datetime, expires: datetime
) -> list[RunRecord]:
    """Leases that ran out, and those of an earlier process on this very home (its data dir
    lock says that process is gone), become ``owner``'s; returns those runs."""
    free = or_(R.lease_owner.is_(None), R.lease_expires < now, R.home == home)
    stmt = (
        update(RUNS)
        .where(free, or_(R.lease_owner.is_(None), R.lease_owner != owner))
        .values(lease_owner=owner, lease_expires=expires)
        .returning(*RUNS.c)
    )
    return [_record(row) for row in (await db.execute(stmt)).all()]


async def known(db: AsyncConnection, task_ids: Collection[str]) -> set[str]:
    """Which of the tasks have a run row (any process's)."""
    if not task_ids:
        return set()
    return set((await db.execute(select(R.id).where(R.id.in_(list(task_ids))))).scalars())
