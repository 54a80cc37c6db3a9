"""Invitations: the owner of a user folder offers it to other users with a permission.

States: pending -> accepted (invitee), rejected (invitee), canceled (inviter). Accepting
adds a share, which is what gives the invitee access.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from hangar.core.errors import Forbidden, NotFound, VFolderAlreadyExists
from hangar.core.principal import Principal
from hangar.core.storage import repo
from hangar.core.storage.models import Invitation, InvitationState, OwnershipType, Permission
from hangar.core.storage.service import Need, StorageService
from hangar.db.tables.storage import VFolderInvitationRow, VFolderRow, VFolderShareRow


def _no_invitation() -> NotFound:
    return NotFound("folder invitation")


class Invitations:
    def __init__(self, storage: StorageService) -> None:
        self._storage = storage
        self._sessions = storage._sessions
        self._clock = storage._clock

    async def invite(
        self, caller: Principal, name: str, permission: str | None, emails: list[str]
    ) -> list[str]:
        """Invite users (by email) to the caller's own user folder; returns who was invited.

        Raises Forbidden (dot folders), NotFound (no such users), VFolderAlreadyExists (an
        invitee already has access).
        """
        await self._storage.writable()
        perm = Permission.parse(permission, Permission.RW)
        access = await self._storage.get(caller, name, Need.OWNER, action="invite users to")
        folder = access.folder
        if folder.ownership_type is not OwnershipType.USER:
            raise Forbidden("Group folders are shared with 'share', not invitations.")
        if folder.name.startswith("."):
            raise Forbidden("Dot-prefixed folders cannot be shared.")
        now = self._clock.now()
        invited: list[str] = []
        async with self._sessions() as db, db.begin():
            users = [
                u
                for u in await repo.users_by_email(db, sorted(set(emails)))
                if u.uuid != caller.user_uuid
            ]
            if not users:
                raise _no_invitation()
            for user in users:
                if await db.get(VFolderShareRow, (folder.id, user.uuid)) is not None:
                    raise VFolderAlreadyExists(f"{user.email} can already use this folder.")
                pending = await db.scalar(
                    select(VFolderInvitationRow.id).where(
                        VFolderInvitationRow.vfolder_id == folder.id,
                        VFolderInvitationRow.invitee == user.email,
                        VFolderInvitationRow.state == InvitationState.PENDING.value,
                    )
                )
                if pending is not None:
                    continue
                db.add(
                    VFolderInvitationRow(
                        id=uuid.uuid4(),
                        vfolder_id=folder.id,
                        inviter=caller.email,
                        invitee=user.email,
                        permission=perm.value,
                        state=InvitationState.PENDING.value,
                        created_at=now,
                        modified_at=now,
                    )
                )
                invited.append(user.email)
        return invited

    async def _list(self, **where: str) -> list[Invitation]:
        column = {"invitee": VFolderInvitationRow.invitee, "inviter": VFolderInvitationRow.inviter}
        async with self._sessions() as db:
            rows = await db.execute(
                select(VFolderInvitationRow, VFolderRow.name)
                .join(VFolderRow, VFolderRow.id == VFolderInvitationRow.vfolder_id)
                .where(
                    *(column[key] == value for key, value in where.items()),
                    VFolderInvitationRow.state == InvitationState.PENDING.value,
                )
                .order_by(VFolderInvitationRow.created_at)
            )
            return [repo.invitation_from_row(row, folder) for row, folder in rows]

    async def received(self, caller: Principal) -> list[Invitation]:
        return await self._list(invitee=caller.email)

    async def sent(self, caller: Principal) -> list[Invitation]:
        return await self._list(inviter=caller.email)

    async def accept(self, caller: Principal, invitation_id: str) -> None:
        await self._storage.writable()
        inv_id = _parse_id(invitation_id)
        names = {a.folder.name for a in await self._storage.accessible(caller)}
        async with self._sessions() as db, db.begin():
            row = await db.get(VFolderInvitationRow, inv_id)
            if (
                row is None
                or row.invitee != caller.email
                or row.state != InvitationState.PENDING.value
            ):
                raise _no_invitation()
            folder = await db.get(VFolderRow, row.vfolder_id)
            if folder is None:
                raise _no_invitation()
            if folder.name in names:
                raise VFolderAlreadyExists("You already have a folder with the same name.")
            row.state = InvitationState.ACCEPTED.value
            row.modified_at = self._clock.now()
            share = await db.get(VFolderShareRow, (folder.id, caller.user_uuid))
            if share is None:
                db.add(VFolderShareRow(vfolder_id=folder.id, user_uuid=caller.user_uuid,
                                       permission=row.permission))  # fmt: skip
            else:
                share.permission = row.permission

    async def delete(self, caller: Principal, invitation_id: str) -> None:
        """The inviter cancels, the invitee rejects; anyone else is refused."""
        await self._storage.writable()
        inv_id = _parse_id(invitation_id)
        async with self._sessions() as db, db.begin():
            row = await db.get(VFolderInvitationRow, inv_id)
            if row is None or row.state != InvitationState.PENDING.value:
                raise _no_invitation()
            if row.inviter == caller.email:
                row.state = InvitationState.CANCELED.value
            elif row.invitee == caller.email:
                row.state = InvitationState.REJECTED.value
            else:
                raise Forbidden("This invitation is not yours.")
            row.modified_at = self._clock.now()

    async def update(self, caller: Principal, invitation_id: str, permission: str | None) -> None:
        await self._storage.writable()
        perm = Permission.parse(permission)
        async with self._sessions() as db, db.begin():
            row = await db.get(VFolderInvitationRow, _parse_id(invitation_id))
            if row is None or row.inviter != caller.email:
                raise _no_invitation()
            row.permission = perm.value
            row.modified_at = self._clock.now()


def _parse_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _no_invitation() from None
