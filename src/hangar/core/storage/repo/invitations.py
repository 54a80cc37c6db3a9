"""Folder invitation rows."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from hangar.core.storage.models import Invitation, InvitationState
from hangar.core.storage.repo import invitation_from_row
from hangar.db.engine import DbSession
from hangar.db.tables.storage import VFolderInvitationRow, VFolderRow, VFolderShareRow


async def has_share(db: DbSession, vfid: uuid.UUID, user_uuid: uuid.UUID) -> bool:
    """Whether the folder is shared with the user already."""
    return await db.get(VFolderShareRow, (vfid, user_uuid)) is not None


async def is_pending(db: DbSession, vfid: uuid.UUID, invitee: str) -> bool:
    """Whether the invitee has a pending invitation to the folder."""
    found = await db.scalar(
        select(VFolderInvitationRow.id).where(
            VFolderInvitationRow.vfolder_id == vfid,
            VFolderInvitationRow.invitee == invitee,
            VFolderInvitationRow.state == InvitationState.PENDING.value,
        )
    )
    return found is not None


def add(
    db: DbSession, vfid: uuid.UUID, inviter: str, invitee: str, permission: str, now: datetime
) -> None:
    """A new pending invitation; the caller commits."""
    db.add(
        VFolderInvitationRow(
            id=uuid.uuid4(), vfolder_id=vfid, inviter=inviter, invitee=invitee,
            permission=permission, state=InvitationState.PENDING.value, created_at=now,
            modified_at=now,
        )
    )  # fmt: skip


async def pending(
    db: DbSession, *, invitee: str | None = None, inviter: str | None = None
) -> list[Invitation]:
    """Pending invitations to or from one user, oldest first."""
    stmt = (
        select(VFolderInvitationRow, VFolderRow.name)
        .join(VFolderRow, VFolderRow.id == VFolderInvitationRow.vfolder_id)
        .where(VFolderInvitationRow.state == InvitationState.PENDING.value)
        .order_by(VFolderInvitationRow.created_at)
    )
    if invitee is not None:
        stmt = stmt.where(VFolderInvitationRow.invitee == invitee)
    if inviter is not None:
        stmt = stmt.where(VFolderInvitationRow.inviter == inviter)
    return [invitation_from_row(row, name) for row, name in await db.execute(stmt)]


async def get(db: DbSession, invitation_id: uuid.UUID) -> Invitation | None:
    """The invitation (its folder's name empty where the folder is gone)."""
    stmt = (
        select(VFolderInvitationRow, VFolderRow.name)
        .outerjoin(VFolderRow, VFolderRow.id == VFolderInvitationRow.vfolder_id)
        .where(VFolderInvitationRow.id == invitation_id)
    )
    found = (await db.execute(stmt)).first()
    return invitation_from_row(found[0], found[1] or "") if found is not None else None


async def change(
    db: DbSession,
    invitation_id: uuid.UUID,
    now: datetime,
    *,
    state: InvitationState | None = None,
    permission: str | None = None,
) -> None:
    values: dict[str, object] = {"modified_at": now}
    if state is not None:
        values["state"] = state.value
    if permission is not None:
        values["permission"] = permission
    await db.execute(
        update(VFolderInvitationRow)
        .where(VFolderInvitationRow.id == invitation_id)
        .values(**values)
    )
