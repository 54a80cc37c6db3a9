"""The only module that reads and writes the ``volumes`` table."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select, update

from hangar.core.volumes.models import StorageType, VendorType, Volume, VolumeStatus
from hangar.db.engine import DbSession
from hangar.db.tables.volumes import VolumeRow

MAX_ID = 2**31 - 1  # an INTEGER column: a larger id names nothing (PostgreSQL refuses it)


def _volume_of(row: VolumeRow) -> Volume:
    return Volume(
        id=row.id,
        owner_uuid=row.owner_uuid,
        name=row.name,
        storage_type=StorageType(row.storage_type),
        region=row.region,
        size_gb=row.size_gb,
        vendor_type=VendorType(row.vendor_type) if row.vendor_type else None,
        status=VolumeStatus(row.status),
        vfolder_id=row.vfolder_id,
        created_at=row.created_at,
    )


async def add(db: DbSession, values: dict[str, Any]) -> Volume:
    row = VolumeRow(**values)
    db.add(row)
    await db.flush()
    return _volume_of(row)


async def get(db: DbSession, owner: uuid.UUID, volume_id: int) -> Volume | None:
    if not 0 < volume_id <= MAX_ID:
        return None
    row = await db.get(VolumeRow, volume_id, populate_existing=True)
    return _volume_of(row) if row is not None and row.owner_uuid == owner else None


async def page(
    db: DbSession,
    owner: uuid.UUID,
    *,
    storage_type: StorageType | None,
    region: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Volume], int]:
    """One page of the owner's volumes (oldest first) and how many match in all."""
    where = [VolumeRow.owner_uuid == owner]
    if storage_type is not None:
        where.append(VolumeRow.storage_type == storage_type.value)
    if region is not None:
        where.append(VolumeRow.region == region)
    total = (await db.execute(select(func.count()).select_from(VolumeRow).where(*where))).scalar()
    if offset > MAX_ID:  # past every row there can be (and past what the databases take)
        return [], int(total or 0)
    stmt = select(VolumeRow).where(*where).order_by(VolumeRow.id).offset(offset).limit(limit)
    return [_volume_of(r) for r in (await db.execute(stmt)).scalars()], int(total or 0)


async def move(
    db: DbSession, volume_id: int, old: VolumeStatus, new: VolumeStatus, **values: Any
) -> bool:
    """Compare-and-set of the status (and other columns); False when someone else moved it."""
    stmt = (
        update(VolumeRow)
        .where(VolumeRow.id == volume_id, VolumeRow.status == old.value)
        .values(status=new.value, **values)
    )
    return bool((await db.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def rename(db: DbSession, owner: uuid.UUID, volume_id: int, name: str) -> bool:
    if not 0 < volume_id <= MAX_ID:
        return False
    stmt = (
        update(VolumeRow)
        .where(VolumeRow.id == volume_id, VolumeRow.owner_uuid == owner)
        .values(name=name)
    )
    return bool((await db.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def remove(db: DbSession, volume_id: int, status: VolumeStatus) -> bool:
    stmt = delete(VolumeRow).where(VolumeRow.id == volume_id, VolumeRow.status == status.value)
    return bool((await db.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def unsettled(db: DbSession) -> list[Volume]:
    """Volumes left in a passing status (a server stopped in the middle of a change)."""
    passing = [VolumeStatus.CREATING.value, VolumeStatus.RESIZING.value,
               VolumeStatus.DELETING.value]  # fmt: skip
    stmt = select(VolumeRow).where(VolumeRow.status.in_(passing))
    return [_volume_of(r) for r in (await db.execute(stmt)).scalars()]
