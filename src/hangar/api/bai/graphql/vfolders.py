"""Virtual folders and storage volumes in GraphQL (``vfolder list``, ``admin storage``)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime

import strawberry

from hangar.api.bai.filters import parse_filter, parse_order
from hangar.api.bai.graphql.context import Info
from hangar.api.bai.graphql.scalars import BigInt, JSONString
from hangar.core.errors import Forbidden
from hangar.core.storage.models import VFolder, VolumeInfo
from hangar.core.storage.queries import FIELDS as FOLDER_FIELDS
from hangar.core.storage.queries import FolderView


@strawberry.type(description="A virtual folder.")
class VirtualFolder:
    id: strawberry.ID | None
    host: str | None
    name: str | None
    user: uuid.UUID | None
    user_email: str | None
    group: uuid.UUID | None
    group_name: str | None
    creator: str | None
    unmanaged_path: str | None
    usage_mode: str | None
    permission: str | None
    ownership_type: str | None
    max_files: int | None
    max_size: BigInt | None
    created_at: datetime | None
    last_used: datetime | None
    cloneable: bool | None

    folder: strawberry.Private[VFolder]

    @strawberry.field
    async def num_files(self, info: Info) -> int | None:
        usage = await info.context.services.storage.service.usage(self.folder)
        return usage.file_count

    @strawberry.field
    async def cur_size(self, info: Info) -> BigInt | None:
        usage = await info.context.services.storage.service.usage(self.folder)
        return BigInt(usage.used_bytes)


def folder_of(view: FolderView) -> VirtualFolder:
    folder = view.folder
    return VirtualFolder(
        id=strawberry.ID(str(folder.id)),
        host=folder.host,
        name=folder.name,
        user=folder.user_uuid,
        user_email=view.user_email,
        group=folder.group_id,
        group_name=view.group_name,
        creator=folder.creator,
        unmanaged_path=folder.unmanaged_path,
        usage_mode=folder.usage_mode.value,
        permission=view.permission.value,  # the caller's, as the REST list shows it
        ownership_type=folder.ownership_type.value,
        max_files=0,
        max_size=BigInt(folder.quota_bytes // (1 << 20)) if folder.quota_bytes else None,
        created_at=folder.created_at,
        last_used=folder.last_used,
        cloneable=folder.cloneable,
        folder=folder,
    )


@strawberry.type
class VirtualFolderList:
    items: list[VirtualFolder | None]
    total_count: int


@strawberry.type(description="A storage host.")
class StorageVolume:
    id: strawberry.ID | None
    backend: str | None
    fsprefix: str | None
    path: str | None
    capabilities: list[str | None] | None
    hardware_metadata: JSONString | None
    performance_metric: JSONString | None
    usage: JSONString | None


async def volume_of(info: Info, volume: VolumeInfo) -> StorageVolume:
    metric = await info.context.services.storage.service.perf_metric(volume.name)
    return StorageVolume(
        id=strawberry.ID(volume.name),
        backend=volume.backend,
        fsprefix=volume.fsprefix,
        path=volume.path,
        capabilities=list(volume.capabilities),
        hardware_metadata=JSONString(volume.hardware_metadata),
        performance_metric=JSONString(asdict(metric)),
        usage=JSONString(
            {"capacity_bytes": volume.capacity_bytes, "used_bytes": volume.used_bytes}
        ),
    )


@strawberry.type
class StorageVolumeList:
    items: list[StorageVolume | None]
    total_count: int


def _superadmin(info: Info) -> None:
    if not info.context.caller.is_superadmin:
        raise Forbidden("superadmin privilege required")


@strawberry.type
class VFolderQuery:
    @strawberry.field
    async def vfolder_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        filter: str | None = None,
        order: str | None = None,
        domain_name: str | None = None,
        group_id: uuid.UUID | None = None,
        access_key: str | None = None,
    ) -> VirtualFolderList | None:
        ctx = info.context
        page = await ctx.services.reads.folders.folder_page(
            ctx.caller,
            limit=limit,
            offset=offset,
            filter=parse_filter(filter, FOLDER_FIELDS),
            order=parse_order(order, FOLDER_FIELDS),
            domain_name=domain_name,
            group_id=str(group_id) if group_id else None,
            access_key=access_key,
        )
        return VirtualFolderList(
            items=[folder_of(v) for v in page.items], total_count=page.total_count
        )

    @strawberry.field
    async def vfolders(
        self,
        info: Info,
        domain_name: str | None = None,
        group_id: str | None = None,
        access_key: str | None = None,
    ) -> list[VirtualFolder | None] | None:
        ctx = info.context
        page = await ctx.services.reads.folders.folder_page(
            ctx.caller,
            limit=1000,
            offset=0,
            domain_name=domain_name,
            group_id=group_id,
            access_key=access_key,
        )
        return [folder_of(v) for v in page.items]

    @strawberry.field
    async def storage_volume(self, info: Info, id: str | None = None) -> StorageVolume | None:
        _superadmin(info)
        service = info.context.services.storage.service
        if id is None or id not in service.hosts.names():
            return None
        return await volume_of(info, await service.volume(id))

    @strawberry.field
    async def storage_volume_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        filter: str | None = None,
        order: str | None = None,
    ) -> StorageVolumeList | None:
        _superadmin(info)
        volumes = await info.context.services.storage.service.volumes()
        items = [await volume_of(info, v) for v in volumes[offset : offset + limit]]
        return StorageVolumeList(items=list(items), total_count=len(volumes))
