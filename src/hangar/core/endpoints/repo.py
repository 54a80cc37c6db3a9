"""The only module that reads and writes the endpoints' tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update

from hangar.core.endpoints.models import (
    EndpointSpec,
    EndpointStatus,
    LogEntry,
    ServiceMode,
    Worker,
    WorkerStatus,
)
from hangar.core.endpoints.specjson import spec_from_json, spec_to_json
from hangar.core.reconcile import Leases
from hangar.db.engine import DbSession
from hangar.db.tables.endpoints import EndpointRow, EndpointWorkerLogRow, EndpointWorkerRow

LIVE = ("INITIALIZING", "RUNNING", "TERMINATING")
ACTIVE = ("INITIALIZING", "RUNNING", "STOPPING")


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    id: int
    owner_uuid: uuid.UUID
    name: str
    mode: ServiceMode
    spec: EndpointSpec
    owner: dict[str, Any]
    webhook: str | None
    domain: str
    workers: int
    target: int
    status: EndpointStatus
    status_info: str | None
    generation: int
    failures: int
    next_start_at: datetime | None
    active_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    worker: Worker
    agent_id: str | None
    log_offset: int


def _endpoint(row: EndpointRow) -> EndpointRecord:
    return EndpointRecord(
        row.id, row.owner_uuid, row.name, ServiceMode(row.mode), spec_from_json(row.spec),
        dict(row.owner), row.webhook, row.domain, row.workers, row.target,
        EndpointStatus(row.status), row.status_info, row.generation, row.failures,
        row.next_start_at, row.active_at, row.created_at, row.updated_at, row.deleted_at,
    )  # fmt: skip


def _worker(row: EndpointWorkerRow) -> WorkerRecord:
    worker = Worker(
        row.id, row.endpoint_id, WorkerStatus(row.status), row.status_info, row.session_id,
        row.scaling_group, row.gpu_type, row.gpu_count, row.generation, row.created_at,
        row.running_at, row.ended_at,
    )  # fmt: skip
    return WorkerRecord(worker, row.agent_id, row.log_offset)


async def add(
    db: DbSession, *, owner_uuid: uuid.UUID, owner: dict[str, Any], name: str,
    mode: ServiceMode, spec: EndpointSpec, workers: int, webhook: str | None, domain: str,
    now: datetime,
) -> EndpointRecord:  # fmt: skip
    row = EndpointRow(
        owner_uuid=owner_uuid, owner=owner, name=name, mode=mode.value, spec=spec_to_json(spec),
        registry_auth_id=spec.registry_auth_id, webhook=webhook, domain=domain,
        workers=workers, target=workers, status=EndpointStatus.INITIALIZING.value,
        generation=1, failures=0, active_at=now, created_at=now, updated_at=now,
    )  # fmt: skip
    db.add(row)
    await db.flush()
    return _endpoint(row)


async def find(db: DbSession, endpoint_id: int) -> EndpointRecord | None:
    """A live (not deleted) endpoint."""
    row = await db.get(EndpointRow, endpoint_id)
    return None if row is None or row.deleted_at is not None else _endpoint(row)


async def load(db: DbSession, endpoint_id: int) -> EndpointRecord | None:
    """An endpoint, deleted or not (for the reconcile loop)."""
    row = await db.get(EndpointRow, endpoint_id)
    return None if row is None else _endpoint(row)


async def by_domain(db: DbSession, label: str) -> EndpointRecord | None:
    stmt = select(EndpointRow).where(EndpointRow.domain == label, EndpointRow.deleted_at.is_(None))
    row = (await db.execute(stmt)).scalars().first()
    return None if row is None else _endpoint(row)


async def owned(db: DbSession, owner: uuid.UUID) -> list[EndpointRecord]:
    stmt = select(EndpointRow).where(
        EndpointRow.owner_uuid == owner, EndpointRow.deleted_at.is_(None)
    )
    return [_endpoint(r) for r in (await db.execute(stmt.order_by(EndpointRow.id))).scalars()]


async def using_auth(db: DbSession, owner: uuid.UUID, auth_id: int) -> list[EndpointRecord]:
    stmt = select(EndpointRow).where(
        EndpointRow.owner_uuid == owner, EndpointRow.registry_auth_id == auth_id
    )
    return [_endpoint(r) for r in (await db.execute(stmt)).scalars()]


async def change(db: DbSession, endpoint_id: int, guard: dict[str, Any], **values: Any) -> bool:
    """Write ``values`` when the row still has the ``guard`` column values (compare and
    set); False when it changed meanwhile (or is gone)."""
    if "spec" in values:
        spec: EndpointSpec = values["spec"]
        values["spec"], values["registry_auth_id"] = spec_to_json(spec), spec.registry_auth_id
    if "status" in values:
        values["status"] = str(values["status"])
    conditions = [EndpointRow.id == endpoint_id]
    conditions += [getattr(EndpointRow, k) == v for k, v in guard.items()]
    stmt = (
        update(EndpointRow).where(*conditions).values(**values)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    result = await db.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def claim(db: DbSession, leases: Leases, now: datetime) -> list[int]:
    """Lease (or renew this process's lease on) the endpoints that have something to do:
    wanting workers, stopping, or still holding live workers. A process keeps the endpoints
    it holds (their workers' init commands run under it) until it stops or its lease runs
    out."""
    holding = select(EndpointWorkerRow.endpoint_id).where(EndpointWorkerRow.status.in_(LIVE))
    wanted = or_(EndpointRow.status.in_(ACTIVE), EndpointRow.id.in_(holding))
    mine_or_free = or_(Leases.free(EndpointRow, now), EndpointRow.lease_owner == leases.owner)
    stmt = (
        update(EndpointRow).where(wanted, mine_or_free).values(**leases.held(now))
        .returning(EndpointRow.id).execution_options(synchronize_session=False)
    )  # fmt: skip
    return [int(i) for i in (await db.execute(stmt)).scalars()]


async def release(db: DbSession, leases: Leases, ids: Sequence[int] | None = None) -> None:
    """Give back this process's leases on ``ids`` (None: all it holds)."""
    stmt = update(EndpointRow).where(EndpointRow.lease_owner == leases.owner)
    if ids is not None:
        stmt = stmt.where(EndpointRow.id.in_(ids))
    await db.execute(stmt.values(**leases.released()).execution_options(synchronize_session=False))


async def add_worker(
    db: DbSession, *, endpoint_id: int, generation: int, scaling_group: str, gpu_type: str,
    gpu_count: int, now: datetime,
) -> Worker:  # fmt: skip
    row = EndpointWorkerRow(
        endpoint_id=endpoint_id, generation=generation, scaling_group=scaling_group,
        gpu_type=gpu_type, gpu_count=gpu_count, status=WorkerStatus.INITIALIZING.value,
        log_offset=0, created_at=now,
    )  # fmt: skip
    db.add(row)
    await db.flush()
    return _worker(row).worker


async def set_worker(
    db: DbSession, worker_id: int, old: WorkerStatus | None = None, **values: Any
) -> bool:
    """Write a worker's columns (``status`` as a WorkerStatus), guarded by its old status."""
    if "status" in values:
        values["status"] = str(values["status"])
    conditions = [EndpointWorkerRow.id == worker_id]
    if old is not None:
        conditions.append(EndpointWorkerRow.status == old.value)
    stmt = (
        update(EndpointWorkerRow).where(*conditions).values(**values)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return bool(getattr(await db.execute(stmt), "rowcount", 0))


async def workers(
    db: DbSession, endpoint_id: int, *, ended_since: datetime | None = None
) -> list[WorkerRecord]:
    """The endpoint's live workers, and those that ended after ``ended_since`` (None: all)."""
    stmt = select(EndpointWorkerRow).where(EndpointWorkerRow.endpoint_id == endpoint_id)
    if ended_since is not None:
        stmt = stmt.where(or_(EndpointWorkerRow.status.in_(LIVE),
                              EndpointWorkerRow.ended_at >= ended_since))  # fmt: skip
    stmt = stmt.order_by(EndpointWorkerRow.id)
    return [_worker(r) for r in (await db.execute(stmt)).scalars()]


async def live_workers(db: DbSession, endpoint_ids: Sequence[int]) -> list[WorkerRecord]:
    stmt = select(EndpointWorkerRow).where(
        EndpointWorkerRow.endpoint_id.in_(endpoint_ids), EndpointWorkerRow.status.in_(LIVE)
    )
    return [_worker(r) for r in (await db.execute(stmt.order_by(EndpointWorkerRow.id))).scalars()]


async def worker(db: DbSession, endpoint_id: int, worker_id: int) -> WorkerRecord | None:
    row = await db.get(EndpointWorkerRow, worker_id)
    return None if row is None or row.endpoint_id != endpoint_id else _worker(row)


async def append_log(
    db: DbSession, worker_id: int, entries: Sequence[LogEntry], new_offset: int
) -> None:
    db.add_all(EndpointWorkerLogRow(worker_id=worker_id, time=e.time, offset=e.offset,
                                    text=e.text) for e in entries)  # fmt: skip
    await set_worker(db, worker_id, log_offset=new_offset)


async def trim_log(db: DbSession, worker_id: int, keep: int) -> None:
    """Drop all but the newest ``keep`` lines of a worker's log."""
    t = EndpointWorkerLogRow
    newest = select(t.offset).where(t.worker_id == worker_id).order_by(t.offset.desc())
    cut = (await db.execute(newest.offset(keep).limit(1))).scalar()
    if cut is not None:
        await db.execute(delete(t).where(t.worker_id == worker_id, t.offset <= cut))


async def drop_logs(db: DbSession, endpoint_id: int) -> None:
    """Delete the logs of all of an endpoint's workers (it was deleted and drained)."""
    workers_of = select(EndpointWorkerRow.id).where(EndpointWorkerRow.endpoint_id == endpoint_id)
    await db.execute(
        delete(EndpointWorkerLogRow).where(EndpointWorkerLogRow.worker_id.in_(workers_of))
    )


async def log_entries(
    db: DbSession, worker_id: int, *, after: int | None, after_time: datetime | None,
    backward: bool, start: datetime | None, end: datetime | None, keyword: str | None,
    limit: int,
) -> list[LogEntry]:  # fmt: skip
    """Up to ``limit`` log lines of a worker after (before, ``backward``) the cursor, in
    the direction's order."""
    t = EndpointWorkerLogRow
    stmt = select(t).where(t.worker_id == worker_id)
    if after is not None:
        stmt = stmt.where(t.offset < after if backward else t.offset > after)
    elif after_time is not None:
        stmt = stmt.where(t.time < after_time if backward else t.time > after_time)
    if start is not None:
        stmt = stmt.where(t.time >= start)
    if end is not None:
        stmt = stmt.where(t.time <= end)
    if keyword:
        stmt = stmt.where(t.text.contains(keyword, autoescape=True))
    order = t.offset.desc() if backward else t.offset
    rows = (await db.execute(stmt.order_by(order).limit(limit))).scalars()
    return [LogEntry(r.time, r.offset, r.text) for r in rows]
