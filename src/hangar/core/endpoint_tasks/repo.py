"""The only module that reads and writes the endpoint tasks' table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from hangar.core.endpoint_tasks.models import DeliveryStatus, TaskRequest, TaskStatus
from hangar.core.reconcile import Leases
from hangar.db.engine import DbSession
from hangar.db.tables.endpoint_tasks import EndpointTaskRow as T

UNFINISHED = (TaskStatus.PROCESSING.value, TaskStatus.DELIVERED.value)
FINISHED = (TaskStatus.SUCCESS.value, TaskStatus.FAILED.value)
UrlOf = Callable[[int, int, int, str], str]


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: int
    endpoint_id: int
    key: str
    status: TaskStatus
    input_json: str
    headers: dict[str, str]
    worker_port: int
    process_uri: str
    webhook: str | None
    webhook_key: str | None
    worker_id: int | None
    worker_url: str | None
    sends: int
    output_json: str | None
    error: str | None
    delivery_status: DeliveryStatus
    delivery_attempts: int
    delivered_at: datetime | None
    notify_at: datetime | None
    created_at: datetime
    updated_at: datetime


def _record(row: T) -> TaskRecord:
    return TaskRecord(
        row.id, row.endpoint_id, row.key, TaskStatus(row.status), row.input, dict(row.headers),
        row.worker_port, row.process_uri, row.webhook, row.webhook_key, row.worker_id,
        row.worker_url, row.sends, row.output, row.error, DeliveryStatus(row.delivery_status),
        row.delivery_attempts, row.delivered_at, row.notify_at, row.created_at, row.updated_at,
    )  # fmt: skip


async def find(db: DbSession, endpoint_id: int, key: str) -> TaskRecord | None:
    row = (
        await db.execute(select(T).where(T.endpoint_id == endpoint_id, T.key == key))
    ).scalar_one_or_none()
    return None if row is None else _record(row)


async def by_id(db: DbSession, task_id: int) -> TaskRecord | None:
    row = await db.get(T, task_id)
    return None if row is None else _record(row)


class KeyTaken(Exception):
    """A task with that key exists in the endpoint (the transaction is spoilt: roll back)."""


async def add(
    db: DbSession, endpoint_id: int, key: str, req: TaskRequest, webhook: str | None,
    now: datetime, assign: dict[str, Any] | None = None,
) -> TaskRecord:  # fmt: skip
    """Store a queued task (or, with ``assign``, one already sent to a worker). Raises
    KeyTaken. The caller commits."""
    values: dict[str, Any] = {
        "status": TaskStatus.PROCESSING.value, "sends": 0, "input": req.input_json,
        "headers": dict(req.headers), "worker_port": req.worker_port,
        "process_uri": req.process_uri, "webhook": webhook, "webhook_key": req.webhook_key,
        "delivery_status": DeliveryStatus.INIT.value, "delivery_attempts": 0,
        "created_at": now, "updated_at": now, **(assign or {}),
    }  # fmt: skip
    row = T(endpoint_id=endpoint_id, key=key, **values)
    db.add(row)
    try:
        await db.flush()
    except IntegrityError as exc:  # one statement and a commit in the usual case
        raise KeyTaken(key) from exc
    return _record(row)


async def page(
    db: DbSession, endpoint_id: int, status: TaskStatus | None, offset: int, limit: int
) -> tuple[list[TaskRecord], int]:
    wanted: list[Any] = [T.endpoint_id == endpoint_id]
    if status is not None:
        wanted.append(T.status == status.value)
    total = (await db.execute(select(func.count()).select_from(T).where(*wanted))).scalar_one()
    rows = await db.execute(select(T).where(*wanted).order_by(T.id.desc()).offset(offset)
                            .limit(limit))  # fmt: skip
    return [_record(r) for r in rows.scalars()], int(total)


async def counts(db: DbSession, endpoint_id: int) -> dict[TaskStatus, int]:
    rows = await db.execute(
        select(T.status, func.count()).where(T.endpoint_id == endpoint_id).group_by(T.status)
    )
    return {TaskStatus(status): int(n) for status, n in rows.all()}


async def queued(db: DbSession, endpoint_ids: Sequence[int] | None = None) -> dict[int, int]:
    """Queued (PROCESSING) tasks per endpoint that has any (of ``endpoint_ids``, or all)."""
    stmt = select(T.endpoint_id, func.count()).where(T.status == TaskStatus.PROCESSING.value)
    if endpoint_ids is not None:
        stmt = stmt.where(T.endpoint_id.in_(endpoint_ids))
    rows = await db.execute(stmt.group_by(T.endpoint_id))
    return {int(e): int(n) for e, n in rows.all()}


async def claim(
    db: DbSession, endpoint_id: int, workers: Sequence[int], url: UrlOf, leases: Leases,
    now: datetime,
) -> list[TaskRecord]:  # fmt: skip
    """Hand the oldest queued tasks to ``workers`` (one task each, in order): DELIVERED,
    sent to ``url(endpoint, worker, port, uri)``, leased to this process. The caller
    commits."""
    found = (await db.execute(
        select(T.id, T.worker_port, T.process_uri)
        .where(T.endpoint_id == endpoint_id, T.status == TaskStatus.PROCESSING.value)
        .order_by(T.id).limit(len(workers))
    )).all()  # fmt: skip
    taken: list[TaskRecord] = []
    for (task_id, port, uri), worker_id in zip(found, workers, strict=False):
        row = (await db.execute(
            update(T).where(T.id == task_id, T.status == TaskStatus.PROCESSING.value)
            .values(status=TaskStatus.DELIVERED.value, worker_id=worker_id, sends=T.sends + 1,
                    worker_url=url(endpoint_id, worker_id, port, uri), updated_at=now,
                    **leases.held(now))
            .returning(T).execution_options(synchronize_session=False)
        )).scalar_one_or_none()  # fmt: skip
        if row is not None:
            taken.append(_record(row))
    return taken


def _mine(task_id: int, leases: Leases) -> list[Any]:
    return [T.id == task_id, T.lease_owner == leases.owner]


async def finish(
    db: DbSession, task_id: int, leases: Leases, *, status: TaskStatus, output: str | None,
    error: str | None, notify_at: datetime | None, now: datetime,
) -> bool:  # fmt: skip
    """The worker's result, if this process still holds the task (False: it lost it)."""
    done = await db.execute(
        update(T).where(*_mine(task_id, leases), T.status == TaskStatus.DELIVERED.value)
        .values(status=status.value, output=output, error=error, notify_at=notify_at,
                updated_at=now, **Leases.released())
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def requeue(
    db: DbSession, task_id: int, leases: Leases, now: datetime, *, unsent: bool = False
) -> bool:
    """Back in the queue (its place by id is kept: it goes out first); ``unsent``: it
    never reached the worker, so this send does not count."""
    done = await db.execute(
        update(T).where(*_mine(task_id, leases), T.status == TaskStatus.DELIVERED.value)
        .values(status=TaskStatus.PROCESSING.value, worker_id=None, updated_at=now,
                sends=T.sends - 1 if unsent else T.sends, **Leases.released())
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def renew(db: DbSession, leases: Leases, now: datetime) -> None:
    """Extend this process's leases on the tasks it is sending."""
    await db.execute(
        update(T).where(T.lease_owner == leases.owner, T.status == TaskStatus.DELIVERED.value)
        .values(lease_expires=leases.held(now)["lease_expires"])
        .execution_options(synchronize_session=False)
    )  # fmt: skip


async def orphans(db: DbSession, now: datetime) -> list[TaskRecord]:
    """DELIVERED tasks whose sender's lease ran out (its server process died)."""
    rows = await db.execute(
        select(T).where(T.status == TaskStatus.DELIVERED.value, Leases.free(T, now))
    )
    return [_record(r) for r in rows.scalars()]


async def recover(
    db: DbSession, task_id: int, now: datetime, *, requeue: bool, reason: str,
    notify_at: datetime | None,
) -> bool:  # fmt: skip
    """An orphan back in the queue, or FAILED with ``reason`` (guarded: still orphaned)."""
    values: dict[str, Any] = (
        {"status": TaskStatus.PROCESSING.value, "worker_id": None}
        if requeue
        else {"status": TaskStatus.FAILED.value, "error": reason, "notify_at": notify_at}
    )
    done = await db.execute(
        update(T).where(T.id == task_id, T.status == TaskStatus.DELIVERED.value,
                        Leases.free(T, now))
        .values(updated_at=now, **values, **Leases.released())
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def claim_notices(
    db: DbSession, leases: Leases, now: datetime, limit: int
) -> list[TaskRecord]:
    """Lease the finished tasks whose webhook attempt is due. The caller commits."""
    ids = (await db.execute(
        select(T.id).where(T.notify_at <= now, Leases.free(T, now))
        .order_by(T.notify_at).limit(limit)
    )).scalars().all()  # fmt: skip
    if not ids:
        return []
    rows = await db.execute(
        update(T).where(T.id.in_(ids), T.notify_at <= now, Leases.free(T, now))
        .values(**leases.held(now)).returning(T).execution_options(synchronize_session=False)
    )  # fmt: skip
    return [_record(r) for r in rows.scalars()]


async def noted(
    db: DbSession, task_id: int, leases: Leases, *, status: DeliveryStatus, attempts: int,
    delivered_at: datetime | None, notify_at: datetime | None,
) -> None:  # fmt: skip
    """The outcome of a webhook attempt; releases the task."""
    await db.execute(
        update(T).where(*_mine(task_id, leases))
        .values(delivery_status=status.value, delivery_attempts=attempts,
                delivered_at=delivered_at, notify_at=notify_at, **Leases.released())
        .execution_options(synchronize_session=False)
    )  # fmt: skip


async def next_notice(db: DbSession) -> datetime | None:
    """When the earliest pending webhook attempt is due."""
    return (await db.execute(select(func.min(T.notify_at)))).scalar_one_or_none()


async def purge(db: DbSession, before: datetime, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` finished tasks (oldest first) that ended before ``before``
    and have no webhook attempt pending or in progress; how many went. The caller commits."""
    settled = [T.status.in_(FINISHED), T.updated_at < before, T.notify_at.is_(None),
               Leases.free(T, now)]  # fmt: skip
    ids = (await db.execute(select(T.id).where(*settled).order_by(T.id).limit(limit))).scalars()
    wanted = list(ids)
    if not wanted:
        return 0
    gone = await db.execute(
        delete(T).where(T.id.in_(wanted), *settled).execution_options(synchronize_session=False)
    )
    return int(gone.rowcount)  # type: ignore[attr-defined]
