"""VMs: long-lived compute sessions of their owner (origin kind vm, named ``vm-<id>``) on
the host's Python environment with sshd, one GPU type in one region, the owner's volumes
mounted. Read with the status their session is in; renamed; terminated (the VM stays
readable as terminated).

Spot VMs: when an on-demand VM asks for devices of a type in a region and too few are free,
the newest running spot VMs on that type there are stopped (their sessions SUSPENDED:
devices released, disk kept) until enough are; a stopped spot VM stays stopped until its
owner terminates it.
"""

from __future__ import annotations

import contextlib

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.models import (
    ComputeSession,
    CreateRequest,
    MountSpec,
    Origin,
    OriginKind,
    SessionSpec,
)
from hangar.core.compute.options import DEVICE_MODEL
from hangar.core.compute.service import ComputeService
from hangar.core.compute.states import SessionStatus, SessionType
from hangar.core.errors import Conflict, Forbidden, InvalidValue, NotFound
from hangar.core.principal import Principal
from hangar.core.resources.accelerators import Accelerators
from hangar.core.vms import repo
from hangar.core.vms.models import (
    CPU_PER_GPU,
    MEMORY_GB_PER_GPU,
    VM_IMAGE,
    Vm,
    VmRequest,
    VmStatus,
    session_name,
)
from hangar.core.vms.repo import VmRecord
from hangar.core.vms.states import vm_status
from hangar.core.volumes.service import VolumeService, check_name
from hangar.db.engine import DbSession


def missing(vm_id: int) -> NotFound:
    return NotFound("vm", f"No VM with id {vm_id}.", ref=str(vm_id))


def session_spec(req: VmRequest, mounts: tuple[MountSpec, ...]) -> SessionSpec:
    resources = {
        "cpu": str(CPU_PER_GPU * req.gpu_count),
        "mem": f"{MEMORY_GB_PER_GPU * req.gpu_count}g",
        "cuda.device": str(req.gpu_count),
    }
    opts = {DEVICE_MODEL: req.model}  # the scheduler gives devices of this model only
    return SessionSpec(image=VM_IMAGE, resources=resources, resource_opts=opts, mounts=mounts)


class VmService:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        *,
        compute: ComputeService,
        lifecycle: SessionLifecycle,
        accelerators: Accelerators,
        volumes: VolumeService,
        disk_gb: int = 0,
    ) -> None:
        self._sessions, self._clock = sessions, clock
        self._compute, self._lifecycle = compute, lifecycle
        self._accelerators, self._volumes = accelerators, volumes
        self._disk_gb = disk_gb  # every session's scratch disk (the server's setting)

    async def create(self, owner: Principal, req: VmRequest) -> Vm:
        """A new VM of ``owner``, its session queued for the scheduler (preempting spot VMs
        for an on-demand one). Raises InvalidValue (name, volumes), NotFound (volume),
        Conflict (a volume not active)."""
        check_name(req.name)
        if req.gpu_count < 1:
            raise InvalidValue("gpu_count", "at least 1")
        mounts = await self._volumes.mounts_for(owner, req.mounts)
        if not req.is_spot:
            await self._preempt_for(req)
        async with self._sessions() as db, db.begin():
            record = await repo.add(db, owner.user_uuid, req, self._clock.now())
        request = CreateRequest(
            name=session_name(record.id), spec=session_spec(req, mounts),
            origin=Origin(OriginKind.VM, str(record.id)), session_type=SessionType.INTERACTIVE,
            domain_name=owner.domain_name, scaling_group=req.scaling_group, enqueue_only=True,
            reuse_if_exists=False,
        )  # fmt: skip
        try:
            session = (await self._compute.create(owner, request)).session
        except BaseException:
            async with self._sessions() as db, db.begin():
                await repo.remove(db, record.id)
            raise
        async with self._sessions() as db, db.begin():
            await repo.set_session(db, record.id, session.id)
        return self._vm(record, session)

    async def _preempt_for(self, req: VmRequest) -> None:
        """Stop running spot VMs on the wanted type in the wanted group until ``req`` fits."""
        free = sum(
            g.free
            for g in await self._accelerators.groups()
            if (g.model, g.memory_bytes, g.scaling_group)
            == (req.model, req.memory_bytes, req.scaling_group)
        )
        if free >= req.gpu_count:
            return
        async with self._sessions() as db:
            spot = await repo.live_spot(db, req.scaling_group, req.gpu_type)
        for record in spot:
            session = await self._session(record)
            if session is None or session.status != SessionStatus.RUNNING:
                continue
            with contextlib.suppress(Conflict):  # it ended meanwhile
                await self._lifecycle.suspend(session)
                free += record.gpu_count
            if free >= req.gpu_count:
                return

    # Reads --------------------------------------------------------------------------------

    async def get(self, owner: Principal, vm_id: int) -> Vm:
        record = await self._record(owner, vm_id)
        return self._vm(record, await self._session(record))

    async def owned(self, owner: Principal, status: VmStatus | None = None) -> list[Vm]:
        """The owner's VMs, oldest first (only those in ``status`` when given)."""
        async with self._sessions() as db:
            records = await repo.owned(db, owner.user_uuid)
        vms = [self._vm(r, await self._session(r)) for r in records]
        return [v for v in vms if status is None or v.status is status]

    async def _record(self, owner: Principal, vm_id: int) -> VmRecord:
        async with self._sessions() as db:
            record = await repo.find(db, vm_id)
        if record is None or record.owner_uuid != owner.user_uuid:
            raise missing(vm_id)
        return record

    async def _session(self, record: VmRecord) -> ComputeSession | None:
        if record.session_id is None:
            return None
        try:
            return await self._compute.get(record.session_id)
        except NotFound:
            return None

    def _vm(self, record: VmRecord, session: ComputeSession | None) -> Vm:
        status = vm_status(session.status if session else None, terminated=record.terminated)
        return Vm(
            id=record.id, owner_uuid=record.owner_uuid, name=record.name,
            vm_type_id=record.vm_type_id, gpu_type=record.gpu_type, gpu_count=record.gpu_count,
            scaling_group=record.scaling_group, is_spot=record.is_spot,
            session_id=record.session_id, status=status, created_at=record.created_at,
            terminated_at=record.terminated_at,
            status_info=session.status_info if session else None, disk_gb=self._disk_gb,
        )  # fmt: skip

    # Changes ------------------------------------------------------------------------------

    async def rename(self, owner: Principal, vm_id: int, name: str) -> Vm:
        check_name(name)
        record = await self._record(owner, vm_id)
        async with self._sessions() as db, db.begin():
            await repo.rename(db, record.id, name)
        return await self.get(owner, vm_id)

    async def terminate(self, owner: Principal, vm_id: int) -> None:
        """End the VM and its session (disk included). Raises NotFound (none), Forbidden
        (another user's), Conflict (already terminated)."""
        async with self._sessions() as db:
            record = await repo.find(db, vm_id)
        if record is None:
            raise missing(vm_id)
        if record.owner_uuid != owner.user_uuid:
            raise Forbidden(f"VM {vm_id} is not yours to terminate.")
        async with self._sessions() as db, db.begin():
            if not await repo.terminate(db, record.id, self._clock.now()):
                raise Conflict(f"VM {vm_id} is already terminated.")
        session = await self._session(record)
        if session is not None:
            with contextlib.suppress(Conflict, NotFound):
                await self._lifecycle.terminate(session, reason="user-requested")
