"""Queues, their entries and samples.

An entry's place is its ``rank`` (ties broken by ``id``). Changes to a queue's entries first
touch the queue row (:func:`lock_queue`): on PostgreSQL that row lock orders concurrent
changes of one queue, on SQLite the write takes the database's write lock before anything is
read. A pop is a guarded DELETE of the head entry: of two workers racing for it, one deletes
the row and the other deletes nothing and tries the next head.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hangar.core.queues.models import Entry, Queue, QueueSample, ServedBy
from hangar.db.tables.queues import QueueEntryRow, QueueRow, QueueSampleRow

QUEUES = cast(Table, QueueRow.__table__)
ENTRIES = cast(Table, QueueEntryRow.__table__)
SAMPLES = cast(Table, QueueSampleRow.__table__)
Q, E, S = QUEUES.c, ENTRIES.c, SAMPLES.c

COLUMNS = {"metadata": "meta"}
"""Queue field -> column where they differ."""

_SERVED = {s.value: s for s in ServedBy}


def _queue(row: Any, entries: tuple[Entry, ...] = ()) -> Queue:
    return Queue(
        id=row.id, name=row.name, display_name=row.display_name, company=row.domain_name,
        user=row.user_uuid, tags=list(row.tags), system_tags=list(row.system_tags),
        metadata=dict(row.meta), served_by=_SERVED.get(row.served_by, ServedBy.HANGAR),
        scaling_group=row.scaling_group, resource_preset=row.resource_preset,
        created=row.created, last_update=row.last_update, entries=entries,
    )  # fmt: skip


def _entry(row: Any) -> Entry:
    return Entry(row.task_id, row.queue_id, row.added, row.priority)


async def insert_queue(db: AsyncConnection, values: Mapping[str, Any]) -> None:
    await db.execute(insert(QUEUES).values(**{COLUMNS.get(k, k): v for k, v in values.items()}))


async def queues(
    db: AsyncConnection,
    domain: str | None,
    *,
    ids: Collection[str] | None = None,
    names: Collection[str] | None = None,
    served_by: ServedBy | None = None,
    with_entries: bool = True,
) -> list[Queue]:
    """Queues of ``domain`` (every domain for None) in creation order, with their entries."""
    stmt = select(QUEUES)
    if domain is not None:
        stmt = stmt.where(Q.domain_name == domain)
    if ids is not None:
        stmt = stmt.where(Q.id.in_(list(ids)))
    if names is not None:
        stmt = stmt.where(Q.name.in_(list(names)))
    if served_by is not None:
        stmt = stmt.where(Q.served_by == served_by.value)
    rows = (await db.execute(stmt.order_by(Q.created, Q.name))).all()
    found = await entries(db, [r.id for r in rows]) if with_entries and rows else {}
    return [_queue(r, tuple(found.get(r.id, ()))) for r in rows]


async def update_queue(db: AsyncConnection, queue_id: str, values: Mapping[str, Any]) -> int:
    stmt = update(QUEUES).where(Q.id == queue_id)
    stmt = stmt.values(**{COLUMNS.get(k, k): v for k, v in values.items()})
    return (await db.execute(stmt)).rowcount


async def delete_queue(db: AsyncConnection, queue_id: str) -> int:
    await db.execute(delete(ENTRIES).where(E.queue_id == queue_id))
    await db.execute(delete(SAMPLES).where(S.queue_id == queue_id))
    return (await db.execute(delete(QUEUES).where(Q.id == queue_id))).rowcount


async def lock_queue(db: AsyncConnection, queue_id: str, now: datetime) -> bool:
    """Takes the queue's row for this transaction (a write); False if there is no queue."""
    stmt = update(QUEUES).where(Q.id == queue_id).values(last_update=now)
    return bool((await db.execute(stmt)).rowcount)


# Entries ---------------------------------------------------------------------------------


async def entries(db: AsyncConnection, queue_ids: Collection[str]) -> dict[str, list[Entry]]:
    """The entries of the queues, each queue's in order."""
    stmt = (
        select(E.task_id, E.queue_id, E.added, E.priority)
        .where(E.queue_id.in_(list(queue_ids)))
        .order_by(E.queue_id, E.rank, E.id)
    )
    found: dict[str, list[Entry]] = {}
    for row in await db.execute(stmt):
        found.setdefault(row.queue_id, []).append(_entry(row))
    return found


async def ordered(db: AsyncConnection, queue_id: str) -> list[tuple[int, str, int, int]]:
    """(entry id, task id, priority, rank) of a queue's entries, in order."""
    stmt = (
        select(E.id, E.task_id, E.priority, E.rank)
        .where(E.queue_id == queue_id)
        .order_by(E.rank, E.id)
    )
    return [(r.id, r.task_id, r.priority, r.rank) for r in await db.execute(stmt)]


async def entry_of(db: AsyncConnection, task_id: str) -> Entry | None:
    stmt = select(E.task_id, E.queue_id, E.added, E.priority).where(E.task_id == task_id)
    row = (await db.execute(stmt)).first()
    return None if row is None else _entry(row)


async def count(db: AsyncConnection, queue_id: str) -> int:
    stmt = select(func.count()).select_from(ENTRIES).where(E.queue_id == queue_id)
    return int((await db.execute(stmt)).scalar_one())


async def add_entry(
    db: AsyncConnection, queue_id: str, task_id: str, *, priority: int, now: datetime
) -> int:
    """Adds the task ahead of the first entry of a lower priority (else last); returns its
    0-based position. Appending reads two index rows; inserting shifts those behind it.
    Call with the queue locked."""
    in_queue = E.queue_id == queue_id
    stmt = select(E.rank).where(in_queue, E.priority < priority).order_by(E.rank, E.id).limit(1)
    before = (await db.execute(stmt)).scalar()
    if before is None:
        stmt = select(func.max(E.rank), func.count()).where(in_queue)
        last, position = (await db.execute(stmt)).one()
        rank = 0 if last is None else last + 1
    else:
        rank = before
        stmt = select(func.count()).select_from(ENTRIES).where(in_queue, E.rank < rank)
        position = (await db.execute(stmt)).scalar_one()
        await db.execute(update(ENTRIES).where(in_queue, E.rank >= rank).values(rank=E.rank + 1))
    await db.execute(
        insert(ENTRIES).values(
            queue_id=queue_id, task_id=task_id, priority=priority, rank=rank, added=now
        )
    )
    return int(position)


async def remove_entries(db: AsyncConnection, task_id: str, queue_id: str | None = None) -> int:
    stmt = delete(ENTRIES).where(E.task_id == task_id)
    if queue_id is not None:
        stmt = stmt.where(E.queue_id == queue_id)
    return (await db.execute(stmt)).rowcount


async def head(db: AsyncConnection, queue_id: str) -> tuple[int, str] | None:
    """(entry id, task id) of the queue's first entry."""
    stmt = select(E.id, E.task_id).where(E.queue_id == queue_id).order_by(E.rank, E.id).limit(1)
    row = (await db.execute(stmt)).first()
    return None if row is None else (row.id, row.task_id)


async def take(db: AsyncConnection, entry_id: int) -> Entry | None:
    """Deletes the entry if it is still there and returns it; None if someone took it."""
    stmt = (
        delete(ENTRIES)
        .where(E.id == entry_id)
        .returning(E.task_id, E.queue_id, E.added, E.priority)
    )
    row = (await db.execute(stmt)).first()
    return None if row is None else _entry(row)


async def set_ranks(db: AsyncConnection, ranks: Mapping[int, int]) -> None:
    for entry_id, rank in ranks.items():
        await db.execute(update(ENTRIES).where(E.id == entry_id).values(rank=rank))


# Samples ---------------------------------------------------------------------------------


async def record_sample(db: AsyncConnection, queue_id: str, now: datetime) -> None:
    """Writes the queue's length and wait as of ``now``: the wait is halfway between the
    first and the last entry's (their mean for two; read from the order index)."""
    in_queue = E.queue_id == queue_id
    counted = select(func.count()).select_from(ENTRIES).where(in_queue)
    length = (await db.execute(counted)).scalar_one()
    wait = 0.0
    if length:
        first = select(E.added).where(in_queue).order_by(E.rank, E.id).limit(1)
        last = select(E.added).where(in_queue).order_by(E.rank.desc(), E.id.desc()).limit(1)
        ends = [(await db.execute(stmt)).scalar_one() for stmt in (first, last)]
        wait = max(0.0, sum((now - added).total_seconds() for added in ends) / 2)
    await db.execute(
        insert(SAMPLES).values(queue_id=queue_id, at=now, length=length, wait_seconds=wait)
    )


async def samples(
    db: AsyncConnection, queue_ids: Collection[str], since: datetime, until: datetime
) -> list[QueueSample]:
    stmt = (
        select(S.queue_id, S.at, S.length, S.wait_seconds)
        .where(S.queue_id.in_(list(queue_ids)), S.at >= since, S.at <= until)
        .order_by(S.queue_id, S.at, S.id)
    )
    return [QueueSample(r.queue_id, r.at, r.length, r.wait_seconds) for r in await db.execute(stmt)]


async def prune_samples(db: AsyncConnection, before: datetime) -> None:
    await db.execute(delete(SAMPLES).where(S.at < before))
