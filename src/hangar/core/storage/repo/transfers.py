"""Upload sessions and download tokens: short-lived rows keyed by a token's hash."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select

from hangar.core.storage.models import UploadState
from hangar.db.engine import DbSession
from hangar.db.tables.storage import DownloadTokenRow, UploadSessionRow, VFolderRow


def add_upload(
    db: DbSession,
    upload_id: uuid.UUID,
    token_hash: str,
    vfid: uuid.UUID,
    relpath: str,
    size: int,
    now: datetime,
    expires_at: datetime,
) -> None:
    db.add(
        UploadSessionRow(
            id=upload_id, token_hash=token_hash, vfolder_id=vfid, relpath=relpath, size=size,
            created_at=now, expires_at=expires_at,
        )
    )  # fmt: skip


async def live_upload(db: DbSession, token_hash: str, now: datetime) -> UploadState | None:
    """The unexpired upload of a token, its folder's host included (offset 0: not read)."""
    found = (
        await db.execute(
            select(
                UploadSessionRow.id, UploadSessionRow.vfolder_id, VFolderRow.host,
                UploadSessionRow.relpath, UploadSessionRow.size,
            )
            .join(VFolderRow, VFolderRow.id == UploadSessionRow.vfolder_id)
            .where(UploadSessionRow.token_hash == token_hash, UploadSessionRow.expires_at >= now)
        )
    ).first()  # fmt: skip
    if found is None:
        return None
    upload_id, vfolder_id, host, relpath, size = found
    return UploadState(upload_id, vfolder_id, host, relpath, size, 0)


async def remove_upload(db: DbSession, upload_id: uuid.UUID) -> None:
    await db.execute(delete(UploadSessionRow).where(UploadSessionRow.id == upload_id))


def add_download(
    db: DbSession,
    token_hash: str,
    vfid: uuid.UUID,
    relpath: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    db.add(
        DownloadTokenRow(
            token_hash=token_hash, vfolder_id=vfid, relpath=relpath, created_at=now,
            expires_at=expires_at,
        )
    )  # fmt: skip


async def live_download(
    db: DbSession, token_hash: str, now: datetime
) -> tuple[uuid.UUID, str, str] | None:
    """(folder id, path in it, the folder's host) of an unexpired download token."""
    found = (
        await db.execute(
            select(DownloadTokenRow.vfolder_id, DownloadTokenRow.relpath, VFolderRow.host)
            .join(VFolderRow, VFolderRow.id == DownloadTokenRow.vfolder_id)
            .where(DownloadTokenRow.token_hash == token_hash, DownloadTokenRow.expires_at >= now)
        )
    ).first()
    return (found[0], found[1], found[2]) if found is not None else None


async def forget_expired(
    db: DbSession, now: datetime
) -> tuple[list[tuple[uuid.UUID, str]], int, set[uuid.UUID]]:
    """Delete expired uploads and download tokens. Returns the expired uploads (id, host),
    how many download tokens went, and the ids of the uploads still live."""
    expired = (
        await db.execute(
            select(UploadSessionRow.id, VFolderRow.host)
            .join(VFolderRow, VFolderRow.id == UploadSessionRow.vfolder_id)
            .where(UploadSessionRow.expires_at < now)
        )
    ).all()
    await db.execute(delete(UploadSessionRow).where(UploadSessionRow.expires_at < now))
    downloads = await db.execute(delete(DownloadTokenRow).where(DownloadTokenRow.expires_at < now))
    live = set(await db.scalars(select(UploadSessionRow.id)))
    gone = int(downloads.rowcount or 0)  # type: ignore[attr-defined]
    return [(upload_id, host) for upload_id, host in expired], gone, live
