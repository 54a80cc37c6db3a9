"""The only module that reads and writes the ``pods`` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from hangar.core.pods.models import PodSpec
from hangar.db.engine import DbSession
from hangar.db.tables.pods import PodRow


@dataclass(frozen=True, slots=True)
class PodRecord:
    """A pod row as stored (its status comes from its session)."""

    id: int
    owner_uuid: uuid.UUID
    name: str
    spec: PodSpec
    scaling_group: str
    session_id: uuid.UUID | None
    created_at: datetime
    deleted_at: datetime | None


def _record(row: PodRow) -> PodRecord:
    return PodRecord(row.id, row.owner_uuid, row.name, PodSpec.from_json(row.spec),
                     row.scaling_group, row.session_id, row.created_at,
                     row.deleted_at)  # fmt: skip


async def add(
    db: DbSession, *, owner: uuid.UUID, name: str, spec: PodSpec, scaling_group: str,
    now: datetime,
) -> PodRecord:  # fmt: skip
    row = PodRow(owner_uuid=owner, name=name, spec=spec.to_json(), scaling_group=scaling_group,
                 registry_auth_id=spec.registry_auth_id, created_at=now)  # fmt: skip
    db.add(row)
    await db.flush()
    return _record(row)


async def set_session(db: DbSession, pod_id: int, session_id: uuid.UUID) -> None:
    row = await db.get(PodRow, pod_id)
    if row is not None:
        row.session_id = session_id


async def rename(db: DbSession, pod_id: int, name: str) -> PodRecord:
    row = await db.get(PodRow, pod_id)
    assert row is not None
    row.name = name
    return _record(row)


async def remove(db: DbSession, pod_id: int) -> None:
    row = await db.get(PodRow, pod_id)
    if row is not None:
        await db.delete(row)


async def mark_deleted(db: DbSession, pod_id: int, now: datetime) -> None:
    row = await db.get(PodRow, pod_id)
    if row is not None and row.deleted_at is None:
        row.deleted_at = now


async def get(db: DbSession, owner: uuid.UUID, pod_id: int) -> PodRecord | None:
    row = await db.get(PodRow, pod_id)
    return _record(row) if row is not None and row.owner_uuid == owner else None


async def owned(db: DbSession, owner: uuid.UUID) -> list[PodRecord]:
    stmt = select(PodRow).where(PodRow.owner_uuid == owner).order_by(PodRow.id)
    return [_record(r) for r in (await db.execute(stmt)).scalars()]


async def by_session(db: DbSession, session_id: uuid.UUID) -> PodRecord | None:
    stmt = select(PodRow).where(PodRow.session_id == session_id)
    row = (await db.execute(stmt)).scalars().first()
    return None if row is None else _record(row)


async def using_auth(db: DbSession, owner: uuid.UUID, auth_id: int) -> list[PodRecord]:
    """The owner's pods that name registry credential ``auth_id`` (deleted ones too)."""
    stmt = select(PodRow).where(PodRow.owner_uuid == owner, PodRow.registry_auth_id == auth_id)
    return [_record(r) for r in (await db.execute(stmt)).scalars()]


async def started(db: DbSession) -> list[PodRecord]:
    """Every pod that has a session and is not deleted."""
    stmt = select(PodRow).where(PodRow.session_id.is_not(None), PodRow.deleted_at.is_(None))
    return [_record(r) for r in (await db.execute(stmt.order_by(PodRow.id))).scalars()]
