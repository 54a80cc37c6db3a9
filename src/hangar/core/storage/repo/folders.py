"""Folder rows and their shares: adding, changing and removing them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from hangar.core.storage.models import VFolder
from hangar.core.storage.repo import folder_from_row
from hangar.db.engine import DbSession
from hangar.db.tables.storage import VFolderRow, VFolderShareRow


async def get(db: DbSession, vfid: uuid.UUID) -> VFolder | None:
    row = await db.get(VFolderRow, vfid)
    return folder_from_row(row) if row is not None else None


async def group_has(db: DbSession, group_id: uuid.UUID, name: str) -> bool:
    """Whether the group has a folder of that name."""
    stmt = select(VFolderRow.id).where(VFolderRow.group_id == group_id, VFolderRow.name == name)
    return await db.scalar(stmt) is not None


def add(db: DbSession, values: dict[str, Any]) -> VFolder:
    """A new folder row (``values``: its columns); the caller commits."""
    row = VFolderRow(**values)
    db.add(row)
    return folder_from_row(row)


async def change(db: DbSession, vfid: uuid.UUID, values: dict[str, Any]) -> bool:
    """Set ``values`` on the folder; False when there is no such folder."""
    result = await db.execute(update(VFolderRow).where(VFolderRow.id == vfid).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def touch(db: DbSession, vfids: Sequence[uuid.UUID], now: datetime) -> None:
    """Record that the folders are used now."""
    await db.execute(update(VFolderRow).where(VFolderRow.id.in_(list(vfids))).values(last_used=now))


async def remove(db: DbSession, vfid: uuid.UUID) -> None:
    await db.execute(delete(VFolderRow).where(VFolderRow.id == vfid))


async def share(
    db: DbSession, vfid: uuid.UUID, users: Sequence[uuid.UUID], permission: str
) -> None:
    """Give ``users`` ``permission`` on the folder (added, or changed where they have one)."""
    for user in users:
        row = await db.get(VFolderShareRow, (vfid, user))
        if row is None:
            db.add(VFolderShareRow(vfolder_id=vfid, user_uuid=user, permission=permission))
        else:
            row.permission = permission


async def unshare(db: DbSession, vfid: uuid.UUID, users: Sequence[uuid.UUID]) -> None:
    await db.execute(
        delete(VFolderShareRow).where(
            VFolderShareRow.vfolder_id == vfid, VFolderShareRow.user_uuid.in_(list(users))
        )
    )
