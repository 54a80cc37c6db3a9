"""A user's volumes: created on the storage host of their type as a virtual folder (with a
quota of the volume's size for CEPH and VENDOR), listed, renamed, grown, deleted (refused
while a live session mounts it), and handed to new pods and VMs as folder mounts.

The folder behind volume 88 is the owner's vfolder ``volume-88``: the same files are reached
through the Backend.AI face, and a session of any face that mounts it counts in the volume's
``mount_count``. Storage calls stay outside database transactions; each status move is a
compare-and-set (:mod:`hangar.core.volumes.states`).
"""

from __future__ import annotations

import dataclasses
import logging
import unicodedata
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.compute.models import MountSpec
from hangar.core.errors import Conflict, InvalidValue, NotFound
from hangar.core.principal import Principal
from hangar.core.storage.models import VFolder
from hangar.core.storage.service import StorageService
from hangar.core.volumes import repo
from hangar.core.volumes.hosts import host_for
from hangar.core.volumes.models import (
    GIB,
    MAX_SIZE_GB,
    MIN_SIZE_GB,
    StorageType,
    VendorType,
    Volume,
    VolumeStatus,
    VolumeView,
    folder_name,
)
from hangar.core.volumes.states import can_move
from hangar.db.engine import DbSession

log = logging.getLogger("hangar.volumes")


class StorageMeter(Protocol):
    """Meters a volume's storage for its cost (the billing service)."""

    async def storage_opened(
        self, volume_id: int, *, user_uuid: uuid.UUID, group_id: uuid.UUID, size_gib: int
    ) -> None: ...

    async def storage_closed(self, volume_id: int) -> None: ...


class Projects(Protocol):
    """The id of a project (group) the owner may use (identity)."""

    async def group_id_for(self, caller: Principal, domain_name: str, group: str) -> uuid.UUID: ...


S = VolumeStatus
MAX_NAME = 255


def missing(volume_id: int) -> NotFound:
    return NotFound("volume", f"No volume with id {volume_id}.", ref=str(volume_id))


def check_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME or not name.strip():
        raise InvalidValue("name", f"1-{MAX_NAME} characters expected")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidValue("name", "control characters are not allowed")
    return name


def check_size(kind: StorageType, size_gb: int | None) -> int | None:
    """The size a volume of ``kind`` keeps: None for object storage (no fixed size)."""
    if kind.is_object_storage:
        return None
    if size_gb is None or not MIN_SIZE_GB <= size_gb <= MAX_SIZE_GB:
        raise InvalidValue("size", f"{MIN_SIZE_GB}-{MAX_SIZE_GB} GB expected for {kind.value}")
    return size_gb


class VolumeService:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        storage: StorageService,
        hosts: Mapping[StorageType, str],
        default_region: str = "local",
        *,
        meter: StorageMeter | None = None,
        projects: Projects | None = None,
    ) -> None:
        self._sessions, self._clock, self._storage = sessions, clock, storage
        self._hosts = dict(hosts)
        self._default_region = default_region
        self._meter, self._projects = meter, projects

    async def _metered(self, owner: Principal, volume_id: int, size_gb: int | None) -> None:
        """Charge a sized volume's storage from now (object storage has no size: not
        charged). A failure is logged: the volume itself is there."""
        if self._meter is None or size_gb is None:
            return
        try:
            group = owner.project_id
            if group is None and self._projects is not None:
                group = await self._projects.group_id_for(owner, owner.domain_name, "default")
            if group is not None:
                await self._meter.storage_opened(volume_id, user_uuid=owner.user_uuid,
                                                 group_id=group, size_gib=size_gb)  # fmt: skip
        except Exception:
            log.exception("volume %s: its storage could not be metered", volume_id)

    # Reads --------------------------------------------------------------------------------

    async def get(self, owner: Principal, volume_id: int) -> Volume:
        """One of the owner's volumes; NotFound for another user's or none."""
        async with self._sessions() as db:
            found = await repo.get(db, owner.user_uuid, volume_id)
        if found is None:
            raise missing(volume_id)
        return found

    async def view(self, owner: Principal, volume_id: int) -> VolumeView:
        return await self._view(await self.get(owner, volume_id))

    async def page(
        self,
        owner: Principal,
        *,
        storage_type: StorageType | None = None,
        region: str | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> tuple[list[VolumeView], int]:
        """One page of the owner's volumes, oldest first, and the number that match."""
        async with self._sessions() as db:
            found, total = await repo.page(db, owner.user_uuid, storage_type=storage_type,
                                           region=region, offset=offset, limit=limit)  # fmt: skip
        return [await self._view(v) for v in found], total

    async def mount_count(self, volume: Volume) -> int:
        """Live sessions (pods, VMs, any face's) that mount the volume's folder."""
        return 0 if volume.vfolder_id is None else await self._storage.mounted_by(volume.vfolder_id)

    async def _view(self, volume: Volume) -> VolumeView:
        folder = await self._folder(volume)
        if folder is None:
            if volume.vfolder_id is not None:  # its folder was deleted through another face
                volume = dataclasses.replace(volume, status=S.ERROR)
            return VolumeView(volume, 0, 0)
        used = (await self._storage.usage(folder)).used_bytes
        return VolumeView(volume, await self._storage.mounted_by(folder.id), used)

    async def _folder(self, volume: Volume) -> VFolder | None:
        if volume.vfolder_id is None:
            return None
        return await self._storage.find_by_id(volume.vfolder_id)

    # Mounts -------------------------------------------------------------------------------

    async def mounts_for(
        self, owner: Principal, paths: Mapping[int, str | None]
    ) -> tuple[MountSpec, ...]:
        """The folder mounts that put the owner's volumes (id -> absolute path in the
        sandbox; None: ``/home/work/volume-<id>``) into a new session: pass them in its
        ``SessionSpec.mounts``. While that session lives, the volume counts it in its
        mount count and refuses resize and delete.

        Raises NotFound (another user's or no volume), Conflict (not active),
        InvalidValue (object storage: S3 and R2 volumes are not mountable).
        """
        mounts: list[MountSpec] = []
        for volume_id, path in paths.items():
            volume = await self.get(owner, int(volume_id))
            if volume.storage_type.is_object_storage:
                raise InvalidValue(
                    "volumes", f"volume {volume.id} is {volume.storage_type.value} object "
                    "storage, which cannot be mounted; use a CEPH or VENDOR volume"
                )  # fmt: skip
            folder = await self._folder(volume)
            if folder is None or volume.status is not S.ACTIVE:
                status = volume.status if folder is not None else S.ERROR
                raise Conflict(f"Volume {volume.id} is {status.value}, not active.")
            mounts.append(MountSpec(folder.name, path))
        return tuple(mounts)

    # Changes ------------------------------------------------------------------------------

    async def create(
        self,
        owner: Principal,
        *,
        name: str,
        storage_type: StorageType,
        region: str | None = None,
        size_gb: int | None = None,
        vendor_type: VendorType | None = None,
    ) -> VolumeView:
        """A new volume with its folder on the type's host; ``creating`` until the folder
        exists, then ``active``. Nothing is left behind when the folder cannot be made."""
        check_name(name)
        size = check_size(storage_type, size_gb)
        if storage_type is StorageType.VENDOR and vendor_type is None:
            raise InvalidValue("vendor type", "NVMe or HDD expected for VENDOR volumes")
        host = host_for(self._hosts, storage_type)
        if region is None and not storage_type.is_object_storage:
            region = self._default_region
        values: dict[str, Any] = dict(
            owner_uuid=owner.user_uuid, name=name, storage_type=storage_type.value,
            region=region, size_gb=size,
            vendor_type=vendor_type.value if storage_type is StorageType.VENDOR and vendor_type
            else None,
            status=S.CREATING.value, vfolder_id=None, created_at=self._clock.now(),
        )  # fmt: skip
        async with self._sessions() as db, db.begin():
            volume = await repo.add(db, values)
        try:
            folder = await self._storage.create(
                owner, name=folder_name(volume.id), host=host, usage_mode="data",
                quota_bytes=(size or 0) * GIB, host_granted=True,
            )  # fmt: skip
        except BaseException:
            async with self._sessions() as db, db.begin():
                await repo.remove(db, volume.id, S.CREATING)
            raise
        await self._move(volume, S.CREATING, S.ACTIVE, vfolder_id=folder.id)
        await self._metered(owner, volume.id, size)
        return await self.view(owner, volume.id)

    async def rename(self, owner: Principal, volume_id: int, name: str) -> VolumeView:
        check_name(name)
        async with self._sessions() as db, db.begin():
            if not await repo.rename(db, owner.user_uuid, volume_id, name):
                raise missing(volume_id)
        return await self.view(owner, volume_id)

    async def resize(self, owner: Principal, volume_id: int, size_gb: int) -> None:
        """Grow a CEPH or VENDOR volume that is active and mounted nowhere."""
        volume = await self.get(owner, volume_id)
        if volume.storage_type.is_object_storage:
            raise Conflict(f"{volume.storage_type.value} volumes have no size to change.")
        size = check_size(volume.storage_type, size_gb)
        assert size is not None and volume.size_gb is not None
        if size <= volume.size_gb:
            raise InvalidValue("size", f"must exceed the current {volume.size_gb} GB")
        await self._idle(volume)
        await self._move(volume, S.ACTIVE, S.RESIZING)
        try:
            folder = await self._folder(volume)
            if folder is None:
                raise NotFound("folder")
            await self._storage.set_quota(owner, folder.name, size * GIB)
        except BaseException:
            await self._move(volume, S.RESIZING, S.ERROR)
            raise
        await self._move(volume, S.RESIZING, S.ACTIVE, size_gb=size)
        await self._metered(owner, volume.id, size)

    async def delete(self, owner: Principal, volume_id: int) -> None:
        """Delete the volume and every file in it; Conflict while a session mounts it."""
        volume = await self.get(owner, volume_id)
        await self._idle(volume, also=S.ERROR)
        await self._move(volume, volume.status, S.DELETING)
        folder = await self._folder(volume)
        if folder is not None:
            try:
                await self._storage.delete(owner, folder.name)
            except BaseException:
                await self._move(volume, S.DELETING, volume.status)
                raise
        async with self._sessions() as db, db.begin():
            await repo.remove(db, volume.id, S.DELETING)
        if self._meter is not None:
            await self._meter.storage_closed(volume.id)

    async def recover(self) -> None:
        """Settle the volumes a stopped server left in a passing status: a resize goes back
        to active at the size recorded (its quota is at least that), a creation or deletion
        that may be half done becomes ``error`` (its owner may delete it again)."""
        async with self._sessions() as db:
            unsettled = await repo.unsettled(db)
        for volume in unsettled:
            new = S.ACTIVE if volume.status is S.RESIZING else S.ERROR
            async with self._sessions() as db, db.begin():
                await repo.move(db, volume.id, volume.status, new)
            log.warning("volume %s was %s at start: now %s", volume.id, volume.status, new)

    async def _idle(self, volume: Volume, also: VolumeStatus | None = None) -> None:
        if volume.status is not S.ACTIVE and volume.status is not also:
            raise Conflict(f"Volume {volume.id} is {volume.status.value}.")
        mounted = await self.mount_count(volume)
        if mounted:
            raise Conflict(f"Volume {volume.id} is mounted by {mounted} running workload(s).")

    async def _move(self, volume: Volume, old: S, new: S, **values: Any) -> None:
        if old is not new and not can_move(old, new) and new is not S.ERROR:
            raise Conflict(f"Volume {volume.id} cannot go from {old.value} to {new.value}.")
        async with self._sessions() as db, db.begin():
            if not await repo.move(db, volume.id, old, new, **values):
                raise Conflict(f"Volume {volume.id} changed meanwhile; try again.")
