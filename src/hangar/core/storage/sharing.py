"""Group folders shared with members explicitly (admins), and user folders given up by
those they were shared with."""

from __future__ import annotations

from hangar.core.errors import InvalidRequest, NotFound
from hangar.core.principal import Principal
from hangar.core.storage import repo
from hangar.core.storage.access import Need, not_sharable, owner_only
from hangar.core.storage.models import OwnershipType, Permission
from hangar.core.storage.repo import folders
from hangar.core.storage.service import StorageService


class GroupSharing:
    def __init__(self, storage: StorageService) -> None:
        self._storage = storage
        self._sessions = storage._sessions

    async def share(
        self, caller: Principal, name: str, permission: str | None, emails: list[str]
    ) -> list[str]:
        """Give group members an explicit permission on a group folder (admins only)."""
        await self._storage.writable()
        perm = Permission.parse(permission, Permission.RW)
        access = await self._storage.get(caller, name, Need.READ)
        folder = access.folder
        if folder.ownership_type is not OwnershipType.GROUP:
            raise not_sharable()
        if not caller.is_admin:
            raise owner_only(folder, "share")
        async with self._sessions() as db, db.begin():
            users = await repo.users_by_email(db, emails)
            members = [u for u in users if folder.group_id in await repo.group_ids_of(db, u.uuid)]
            if len(members) < len(set(emails)):
                raise NotFound("user", "Some users are not members of the folder's group.")
            await folders.share(db, folder.id, [u.uuid for u in members], perm.value)
        return [u.email for u in members]

    async def unshare(self, caller: Principal, name: str, emails: list[str]) -> list[str]:
        await self._storage.writable()
        access = await self._storage.get(caller, name, Need.READ)
        if access.folder.ownership_type is not OwnershipType.GROUP:
            raise not_sharable()
        if not caller.is_admin:
            raise owner_only(access.folder, "unshare")
        async with self._sessions() as db, db.begin():
            users = await repo.users_by_email(db, emails)
            await folders.unshare(db, access.folder.id, [u.uuid for u in users])
        return [u.email for u in users]

    async def leave(self, caller: Principal, name: str) -> None:
        """Give up a user folder shared with the caller."""
        await self._storage.writable()
        access = await self._storage.get(caller, name, Need.READ)
        if access.is_owner or access.folder.ownership_type is OwnershipType.GROUP:
            raise InvalidRequest("You can leave only user folders shared with you.")
        async with self._sessions() as db, db.begin():
            await folders.unshare(db, access.folder.id, [caller.user_uuid])
