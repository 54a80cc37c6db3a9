"""Everything storage, built once: hosts, folder service, files, invitations, mounts,
dotfiles, and the hooks that let compute sessions mount folders."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import HomeFile, MountRequest
from hangar.core.bgtasks.service import BackgroundTasks
from hangar.core.clock import Clock
from hangar.core.compute.models import ComputeSession
from hangar.core.diskspace import DiskReserve
from hangar.core.manager.service import ManagerService
from hangar.core.principal import Principal
from hangar.core.storage.dotfiles import Dotfiles
from hangar.core.storage.files import Files
from hangar.core.storage.hosts import StorageHosts
from hangar.core.storage.invitations import Invitations
from hangar.core.storage.mounts import Mounts
from hangar.core.storage.service import StorageService
from hangar.core.storage.sharing import GroupSharing
from hangar.db.engine import DbSession
from hangar.settings import Settings

log = logging.getLogger("hangar.storage")


@dataclass
class StoragePlane:
    service: StorageService
    files: Files
    invitations: Invitations
    sharing: GroupSharing
    mounts: Mounts
    dotfiles: Dotfiles
    bgtasks: BackgroundTasks
    sweep_seconds: float

    async def mounts_for(
        self, owner: Principal, names: tuple[str, ...], mount_map: dict[str, str]
    ) -> list[dict[str, Any]]:
        return [m.to_json() for m in await self.mounts.resolve(owner, names, mount_map)]

    async def kernel_extras(
        self, session: ComputeSession
    ) -> tuple[tuple[MountRequest, ...], tuple[HomeFile, ...]]:
        binds = await self.mounts.host_mounts(session.mounts)
        dotfiles = await self.dotfiles.for_session(
            session.user_uuid, session.group_id, session.domain_name
        )
        return (
            tuple(MountRequest(Path(b.host_path), b.target, b.read_only) for b in binds),
            tuple(HomeFile(d.path, d.data.encode(), int(d.permission, 8)) for d in dotfiles),
        )

    async def sweep(self) -> None:
        """One pass of housekeeping: expired transfers, staging leftovers, old tasks."""
        await self.files.sweep()
        await self.bgtasks.sweep()

    async def run_sweeps(self) -> None:
        """Sweep every ``sweep_seconds`` until cancelled."""
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                await self.sweep()
            except Exception:  # the next pass tries again
                log.exception("storage housekeeping failed")

    async def close(self) -> None:
        await self.service.hosts.close()


def build_storage_plane(
    settings: Settings,
    sessions: async_sessionmaker[DbSession],
    clock: Clock,
    manager: ManagerService,
    bgtasks: BackgroundTasks,
) -> StoragePlane:
    hosts = StorageHosts.from_settings(settings)
    service = StorageService(sessions, clock, hosts, manager, bgtasks)
    return StoragePlane(
        service=service,
        files=Files(
            service,
            settings.storage.token_seconds,
            DiskReserve(settings.data_dir, settings.storage.disk_reserve_bytes),
        ),
        invitations=Invitations(service),
        sharing=GroupSharing(service),
        mounts=Mounts(service),
        dotfiles=Dotfiles(service),
        bgtasks=bgtasks,
        sweep_seconds=settings.storage.sweep_seconds,
    )
