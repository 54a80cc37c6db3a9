"""The only module that reads and writes the ``vms`` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from hangar.core.vms.models import VmRequest, VmStatus
from hangar.db.engine import DbSession
from hangar.db.tables.vms import VmRow

MAX_ID = 2**31 - 1  # an INTEGER column: a larger id names nothing (PostgreSQL refuses it)


@dataclass(frozen=True, slots=True)
class VmRecord:
    """A VM as stored: what it was made from and its session (its status is the session's)."""

    id: int
    owner_uuid: uuid.UUID
    name: str
    vm_type_id: int
    gpu_type: str
    gpu_count: int
    scaling_group: str
    is_spot: bool
    session_id: uuid.UUID | None
    terminated: bool
    created_at: datetime
    terminated_at: datetime | None


def _record(row: VmRow) -> VmRecord:
    return VmRecord(
        id=row.id, owner_uuid=row.owner_uuid, name=row.name, vm_type_id=row.vm_type_id,
        gpu_type=row.gpu_type, gpu_count=row.gpu_count, scaling_group=row.region,
        is_spot=row.is_spot, session_id=row.session_id,
        terminated=row.status == VmStatus.TERMINATED.value, created_at=row.created_at,
        terminated_at=row.terminated_at,
    )  # fmt: skip


async def add(db: DbSession, owner: uuid.UUID, req: VmRequest, now: datetime) -> VmRecord:
    row = VmRow(
        owner_uuid=owner, name=req.name, vm_type_id=req.vm_type_id, gpu_type=req.gpu_type,
        gpu_count=req.gpu_count, region=req.scaling_group, is_spot=req.is_spot,
        session_id=None, disk_volume_id=None, status=VmStatus.INITIALIZING.value,
        created_at=now, terminated_at=None,
    )  # fmt: skip
    db.add(row)
    await db.flush()
    return _record(row)


async def find(db: DbSession, vm_id: int) -> VmRecord | None:
    """The VM whoever owns it (the caller checks the owner)."""
    if not 0 < vm_id <= MAX_ID:
        return None
    row = await db.get(VmRow, vm_id, populate_existing=True)
    return None if row is None else _record(row)


async def owned(db: DbSession, owner: uuid.UUID) -> list[VmRecord]:
    stmt = select(VmRow).where(VmRow.owner_uuid == owner).order_by(VmRow.id)
    return [_record(r) for r in (await db.execute(stmt)).scalars()]


async def live_spot(db: DbSession, scaling_group: str, gpu_type: str) -> list[VmRecord]:
    """Spot VMs not terminated in a group on a GPU type, newest first (preempted first)."""
    stmt = (
        select(VmRow)
        .where(
            VmRow.region == scaling_group,
            VmRow.gpu_type == gpu_type,
            VmRow.is_spot.is_(True),
            VmRow.status != VmStatus.TERMINATED.value,
        )
        .order_by(VmRow.id.desc())
    )
    return [_record(r) for r in (await db.execute(stmt)).scalars()]


async def set_session(db: DbSession, vm_id: int, session_id: uuid.UUID) -> None:
    await db.execute(update(VmRow).where(VmRow.id == vm_id).values(session_id=session_id))


async def rename(db: DbSession, vm_id: int, name: str) -> None:
    await db.execute(update(VmRow).where(VmRow.id == vm_id).values(name=name))


async def terminate(db: DbSession, vm_id: int, now: datetime) -> bool:
    """Mark the VM terminated; False when it already was."""
    stmt = (
        update(VmRow)
        .where(VmRow.id == vm_id, VmRow.status != VmStatus.TERMINATED.value)
        .values(status=VmStatus.TERMINATED.value, terminated_at=now)
    )
    return bool((await db.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def remove(db: DbSession, vm_id: int) -> None:
    row = await db.get(VmRow, vm_id)
    if row is not None:
        await db.delete(row)
