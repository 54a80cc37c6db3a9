"""Invitations: the owner of a user folder offers it to other users with a permission.

States: pending -> accepted (invitee), rejected (invitee), canceled (inviter). Accepting
adds a share, which is what gives the invitee access.
"""

from __future__ import annotations

import uuid

from hangar.core.errors import Forbidden, NotFound, VFolderAlreadyExists
from hangar.core.principal import Principal
from hangar.core.storage import repo
from hangar.core.storage.access import Need
from hangar.core.storage.models import Invitation, InvitationState, OwnershipType, Permission
from hangar.core.storage.repo import folders
from hangar.core.storage.repo import invitations as rows
from hangar.core.storage.service import StorageService


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
                if await rows.has_share(db, folder.id, user.uuid):
                    raise VFolderAlreadyExists(f"{user.email} can already use this folder.")
                if await rows.is_pending(db, folder.id, user.email):
                    continue
                rows.add(db, folder.id, caller.email, user.email, perm.value, now)
                invited.append(user.email)
        return invited

    async def received(self, caller: Principal) -> list[Invitation]:
        async with self._sessions() as db:
            return await rows.pending(db, invitee=caller.email)

    async def sent(self, caller: Principal) -> list[Invitation]:
        async with self._sessions() as db:
            return await rows.pending(db, inviter=caller.email)

    async def accept(self, caller: Principal, invitation_id: str) -> None:
        await self._storage.writable()
        inv_id = _parse_id(invitation_id)
        names = {a.folder.name for a in await self._storage.accessible(caller)}
        async with self._sessions() as db, db.begin():
            found = await rows.get(db, inv_id)
            if (
                found is None
                or found.invitee != caller.email
                or found.state is not InvitationState.PENDING
            ):
                raise _no_invitation()
            folder = await folders.get(db, found.vfolder_id)
            if folder is None:
                raise _no_invitation()
            if folder.name in names:
                raise VFolderAlreadyExists("You already have a folder with the same name.")
            await rows.change(db, inv_id, self._clock.now(), state=InvitationState.ACCEPTED)
            await folders.share(db, folder.id, [caller.user_uuid], found.permission.value)

    async def delete(self, caller: Principal, invitation_id: str) -> None:
        """The inviter cancels, the invitee rejects; anyone else is refused."""
        await self._storage.writable()
        inv_id = _parse_id(invitation_id)
        async with self._sessions() as db, db.begin():
            found = await rows.get(db, inv_id)
            if found is None or found.state is not InvitationState.PENDING:
                raise _no_invitation()
            if found.inviter == caller.email:
                state = InvitationState.CANCELED
            elif found.invitee == caller.email:
                state = InvitationState.REJECTED
            else:
                raise Forbidden("This invitation is not yours.")
            await rows.change(db, inv_id, self._clock.now(), state=state)

    async def update(self, caller: Principal, invitation_id: str, permission: str | None) -> None:
        await self._storage.writable()
        perm = Permission.parse(permission)
        async with self._sessions() as db, db.begin():
            inv_id = _parse_id(invitation_id)
            found = await rows.get(db, inv_id)
            if found is None or found.inviter != caller.email:
                raise _no_invitation()
            await rows.change(db, inv_id, self._clock.now(), permission=perm.value)


def _parse_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _no_invitation() from None
