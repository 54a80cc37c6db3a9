"""Virtual folders: hosts, create/list/info/rename/delete/clone, options.

A folder is named by the caller among the folders they can reach (own, their groups',
shared with them); someone else's folder is "No such virtual folder." whatever its id. A
folder the caller reaches but may not change (rename, options, invitations, deletion) is a
Forbidden that says who may.
Storage calls stay outside database transactions: a folder row is written only after its
storage exists, and its storage is removed only after the row is gone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.bgtasks.service import BackgroundTasks, Progress
from hangar.core.clock import Clock
from hangar.core.errors import (
    FolderDeleteRefused,
    Forbidden,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    ServerFrozen,
    StorageFailed,
    VFolderAlreadyExists,
)
from hangar.core.manager.service import ManagerService, ManagerStatus
from hangar.core.principal import Principal
from hangar.core.storage import repo
from hangar.core.storage.access import (
    Need,
    folder_in_use,
    folder_not_found,
    owner_only,
)
from hangar.core.storage.hosts import StorageHosts
from hangar.core.storage.models import (
    Access,
    FolderUsage,
    OwnershipType,
    PerfMetric,
    Permission,
    UsageMode,
    VFolder,
    VolumeInfo,
    check_folder_name,
)
from hangar.core.storage.repo import folders
from hangar.db.engine import DbSession, engine_of

GROUP_DOT_ALLOWED = frozenset({".local"})
log = logging.getLogger("hangar.storage")


@dataclass(frozen=True, slots=True)
class HostList:
    default: str | None
    allowed: list[str]
    volumes: dict[str, VolumeInfo]


class StorageService:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        hosts: StorageHosts,
        manager: ManagerService,
        bgtasks: BackgroundTasks,
    ) -> None:
        self._bgtasks = bgtasks
        self._sessions = sessions
        self._clock = clock
        self.hosts = hosts
        self._manager = manager

    async def writable(self) -> None:
        """Raise ServerFrozen while the manager is frozen (every change goes through here)."""
        if await self._manager.status() == ManagerStatus.FROZEN:
            raise ServerFrozen()

    # Hosts -------------------------------------------------------------------------------

    async def allowed_hosts(self, caller: Principal) -> list[str]:
        existing = set(self.hosts.names())
        if caller.is_superadmin:
            return sorted(existing)
        async with self._sessions() as db:
            allowed = await repo.allowed_hosts(db, caller)
        return sorted(allowed & existing)

    async def list_hosts(self, caller: Principal) -> HostList:
        allowed = await self.allowed_hosts(caller)
        volumes = {name: await self.hosts.get(name).info() for name in allowed}
        return HostList(self.hosts.default, allowed, volumes)

    async def list_all_hosts(self) -> HostList:
        return HostList(self.hosts.default, self.hosts.names(), {})

    async def volume(self, name: str) -> VolumeInfo:
        return await self.hosts.get(name).info()

    async def volumes(self) -> list[VolumeInfo]:
        return [await backend.info() for backend in self.hosts]

    async def perf_metric(self, host: str) -> PerfMetric:
        return await self.hosts.get(host).perf_metric()

    # Look-ups ----------------------------------------------------------------------------

    async def accessible(self, caller: Principal) -> list[Access]:
        return await repo.accessible_now(engine_of(self._sessions), caller.user_uuid)

    async def get(
        self, caller: Principal, name: str, need: Need = Need.READ, *, action: str = "change"
    ) -> Access:
        """The folder ``name`` as the caller reaches it, if they may do what ``need`` says.

        Raises NotFound ("No such virtual folder.") for folders the caller cannot reach,
        Forbidden for those they reach without the permission (``action`` names what the
        owner alone may do, as in "Only the owner can rename this folder.").
        """
        for access in await self.accessible(caller):
            if access.folder.name != name:
                continue
            if need is Need.OWNER and not self._owns(caller, access):
                raise owner_only(access.folder, action)
            if need is Need.WRITE and not access.permission.can_write:
                raise Forbidden(f"The folder {name!r} is read-only for you.")
            return access
        raise folder_not_found()

    def _owns(self, caller: Principal, access: Access) -> bool:
        """Owners of user folders; admins of the group's domain for group folders."""
        if access.is_owner:
            return True
        return access.folder.ownership_type is OwnershipType.GROUP and caller.is_admin

    async def usage(self, folder: VFolder) -> FolderUsage:
        return await self.hosts.get(folder.host).usage(folder.id)

    @staticmethod
    def is_over_quota(folder: VFolder, usage: FolderUsage) -> bool:
        """Whether the folder holds as much as its quota allows (or more: sessions write
        into mounted folders without a check)."""
        return folder.quota_bytes > 0 and usage.used_bytes >= folder.quota_bytes

    async def find_by_id(self, vfid: uuid.UUID) -> VFolder | None:
        async with self._sessions() as db:
            return await folders.get(db, vfid)

    # Create ------------------------------------------------------------------------------

    async def create(
        self,
        caller: Principal,
        *,
        name: str,
        host: str | None = None,
        group: str | None = None,
        usage_mode: str | None = "general",
        permission: str | None = "rw",
        quota_bytes: int = 0,
        cloneable: bool = False,
        unmanaged_path: str | None = None,
        host_granted: bool = False,
    ) -> VFolder:
        """Create a folder for the caller (or, for admins, for a group). ``host_granted``:
        the installation chose the host (a GPU-cloud volume's), so the caller's allowed
        hosts are not asked.

        Raises InvalidRequest, NotFound (group), Forbidden, VFolderAlreadyExists,
        QuotaExceeded (folder count), ServerFrozen.
        """
        await self.writable()
        check_folder_name(name)
        mode = UsageMode.parse(usage_mode)
        perm = Permission.parse(permission, Permission.RW)
        if quota_bytes < 0:
            raise InvalidRequest("The quota must not be negative.")
        if unmanaged_path:
            raise Forbidden("Unmanaged folders are not supported.")
        host = host or self.hosts.default
        if not host:
            raise InvalidRequest(
                "You must specify the vfolder host because the default host is not configured."
            )
        backend = self.hosts.get(host)
        if not host_granted and host not in await self.allowed_hosts(caller):
            raise InvalidRequest(f"You are not allowed to use the storage host {host!r}.")
        group_id = await self._group_for_create(caller, group, name)
        names = {a.folder.name for a in await self.accessible(caller)}
        async with self._sessions() as db:
            if name in names or (
                group_id is not None and await folders.group_has(db, group_id, name)
            ):
                raise VFolderAlreadyExists()
            max_count, max_size = await repo.policy_limits(db, caller)
            if (
                group_id is None
                and max_count > 0
                and await repo.count_owned(db, caller.user_uuid) >= max_count
            ):
                raise QuotaExceeded(f"You cannot create more than {max_count} virtual folders.")
        if max_size > 0 and (quota_bytes == 0 or quota_bytes > max_size):
            quota_bytes = max_size
        values: dict[str, Any] = dict(
            id=uuid.uuid4(),
            host=host,
            name=name,
            usage_mode=mode.value,
            permission=perm.value,
            quota_bytes=quota_bytes,
            cloneable=bool(cloneable),
            ownership_type=(OwnershipType.GROUP if group_id else OwnershipType.USER).value,
            user_uuid=None if group_id else caller.user_uuid,
            group_id=group_id,
            creator=caller.email,
            unmanaged_path=None,
            created_at=self._clock.now(),
            last_used=None,
        )
        await backend.create_folder(values["id"])
        try:
            async with self._sessions() as db, db.begin():
                folder = folders.add(db, values)
        except BaseException:
            await backend.delete_folder(values["id"])
            raise
        return folder

    async def _group_for_create(
        self, caller: Principal, group: str | None, name: str
    ) -> uuid.UUID | None:
        if not group:
            return None
        async with self._sessions() as db:
            row = await repo.find_group(db, caller.domain_name, str(group))
        if row is None or (row.domain_name != caller.domain_name and not caller.is_superadmin):
            raise NotFound("group")
        if not caller.is_admin:
            raise Forbidden("Only administrators can create group folders.")
        if name.startswith(".") and name not in GROUP_DOT_ALLOWED:
            raise InvalidRequest("Dot-prefixed folders cannot be group folders.")
        return row.id

    # Change ------------------------------------------------------------------------------

    async def rename(self, caller: Principal, name: str, new_name: str) -> None:
        await self.writable()
        check_folder_name(new_name)
        access = await self.get(caller, name, Need.OWNER, action="rename")
        if new_name != name and any(
            a.folder.name == new_name for a in await self.accessible(caller)
        ):
            raise VFolderAlreadyExists()
        await self._update(access.folder.id, name=new_name)

    async def update_options(
        self, caller: Principal, name: str, *, permission: str | None, cloneable: bool | None
    ) -> None:
        await self.writable()
        access = await self.get(caller, name, Need.OWNER, action="change the options of")
        values: dict[str, object] = {}
        if permission is not None:
            values["permission"] = Permission.parse(permission).value
        if cloneable is not None:
            values["cloneable"] = bool(cloneable)
        if values:
            await self._update(access.folder.id, **values)

    async def _update(self, vfid: uuid.UUID, **values: object) -> None:
        async with self._sessions() as db, db.begin():
            if not await folders.change(db, vfid, values):
                raise folder_not_found()

    async def set_quota(self, caller: Principal, name: str, quota_bytes: int) -> None:
        """Give a folder the caller owns a new quota (0: none)."""
        await self.writable()
        if quota_bytes < 0:
            raise InvalidRequest("The quota must not be negative.")
        access = await self.get(caller, name, Need.OWNER, action="change the quota of")
        await self._update(access.folder.id, quota_bytes=quota_bytes)

    async def mounted_by(self, vfid: uuid.UUID) -> int:
        """How many sessions that are not over mount the folder (of any face or user)."""
        async with self._sessions() as db:
            return len(await repo.sessions_mounting(db, vfid))

    async def touch(self, vfids: list[uuid.UUID]) -> None:
        """Record that sessions use these folders now."""
        if not vfids:
            return
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            await folders.touch(db, vfids, now)

    async def delete(self, caller: Principal, name: str) -> None:
        """Delete a folder the caller owns (or holds ``wd`` on) with all its files.

        Raises FolderDeleteRefused otherwise (``reachable`` for a folder they reach), and
        FolderInUse while sessions that are not over mount it.
        """
        await self.writable()
        for access in await self.accessible(caller):
            if access.folder.name == name:
                if not (self._owns(caller, access) or access.permission is Permission.WD):
                    raise FolderDeleteRefused(name, reachable=True)
                await self._remove(access.folder, caller)
                return
        raise FolderDeleteRefused(name, reachable=False)

    async def delete_by_id(self, caller: Principal, vfid: uuid.UUID) -> None:
        """Superadmins delete any folder by id. Raises Forbidden, NotFound, InvalidRequest
        (sessions mount it)."""
        await self.writable()
        if not caller.is_superadmin:
            raise Forbidden("Only superadmins delete folders by id.")
        async with self._sessions() as db:
            folder = await folders.get(db, vfid)
        if folder is None:
            raise folder_not_found()
        await self._remove(folder, caller)

    async def _remove(self, folder: VFolder, caller: Principal | None = None) -> None:
        """Delete the folder's row, then its storage. With a ``caller`` (a deletion asked
        for, not the undoing of a failed create or clone), a folder that sessions still
        mount is refused: their next commands would fail on a vanished mount."""
        async with self._sessions() as db, db.begin():
            if caller is not None:
                in_use = await repo.sessions_mounting(db, folder.id)
                if in_use:
                    raise folder_in_use(folder, in_use, caller)
            await folders.remove(db, folder.id)
        try:
            await self.hosts.get(folder.host).delete_folder(folder.id)
        except StorageFailed:  # the folder is gone for its users; the leftover is logged
            log.exception("folder %s is deleted but its storage is not fully removed", folder.id)

    async def clone(
        self,
        caller: Principal,
        name: str,
        *,
        target_name: str,
        target_host: str | None,
        usage_mode: str | None,
        permission: str | None,
        cloneable: bool = False,
    ) -> tuple[VFolder, uuid.UUID]:
        """Create the caller's copy of a cloneable folder; its files are copied by a
        background task whose id comes back with the new folder. If the copy fails the new
        folder is removed again (the task says why)."""
        await self.writable()
        source = await self.get(caller, name, Need.READ)
        if not source.folder.cloneable:
            raise Forbidden("The virtual folder is not cloneable.")
        host = target_host or source.folder.host
        if self.hosts.get(host).kind != self.hosts.get(source.folder.host).kind:
            raise InvalidRequest("Folders can be cloned only between hosts of the same kind.")
        if host != source.folder.host:
            raise InvalidRequest("Folders can be cloned only within their storage host.")
        total = (await self.usage(source.folder)).used_bytes
        target = await self.create(
            caller,
            name=target_name,
            host=host,
            usage_mode=usage_mode,
            permission=permission,
            quota_bytes=source.folder.quota_bytes,
            cloneable=cloneable,
        )

        async def copy(progress: Progress) -> str:
            try:
                await self.hosts.get(host).clone_folder(source.folder.id, target.id, progress.set)
            except BaseException as exc:
                await asyncio.shield(self._remove(target))
                if isinstance(exc, OSError):  # its text would name host paths
                    raise StorageFailed(f"Cannot clone the folder: {exc.strerror}") from None
                raise
            return f"Cloned {name!r} into {target_name!r}."

        task_id = await self._bgtasks.start(
            kind="vfolder_clone",
            owner=caller,
            work=copy,
            total=total,
            message=f"Cloning {name!r} into {target_name!r}",
        )
        return target, task_id
