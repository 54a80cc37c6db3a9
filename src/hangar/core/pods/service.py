"""Pods: created as compute sessions of their owner (origin kind pod, named ``pod-<id>``),
listed and read with the status their session is in, paused (the session's SUSPENDED:
devices released, container disk kept), resumed (placed again), deleted (terminated; the
pod stays readable as TERMINATED)."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.compute.models import (
    ComputeSession,
    CreateRequest,
    MountSpec,
    Origin,
    OriginKind,
    SessionSpec,
)
from hangar.core.compute.options import DEVICE_MODEL
from hangar.core.compute.ports import PortSpec
from hangar.core.compute.service import ComputeService
from hangar.core.compute.states import SessionType
from hangar.core.errors import Conflict, HangarError, InvalidRequest, InvalidValue, NotFound
from hangar.core.images.auths.service import RegistryAuthService
from hangar.core.images.service import ImageService
from hangar.core.pods import repo
from hangar.core.pods.models import Pod, PodRequest, PodSpec, PodStatus, ResourceKind
from hangar.core.pods.placement import choose_group
from hangar.core.pods.repo import PodRecord
from hangar.core.pods.states import CAN_PAUSE, CAN_RESUME, pod_status
from hangar.core.principal import Principal
from hangar.core.resources.accelerators import Accelerators
from hangar.core.volumes.models import StorageType
from hangar.core.volumes.service import VolumeService
from hangar.db.engine import DbSession

GIB = 1 << 30


def session_name(pod_id: int) -> str:
    return f"pod-{pod_id}"


def session_spec(spec: PodSpec, mounts: tuple[MountSpec, ...] = ()) -> SessionSpec:
    """The compute session a pod's spec asks for."""
    resources: dict[str, str] = {"cpu": str(spec.cpu)}
    memory = max(spec.memory_gb, spec.shm_gb + 1 if spec.shm_gb else 0)
    if memory:
        resources["mem"] = f"{memory}g"
    if spec.resource is ResourceKind.GPU and spec.gpu_count:
        resources["cuda.device"] = str(spec.gpu_count)
    opts = {"shmem": f"{spec.shm_gb}g"} if spec.shm_gb else {}
    if spec.disk_gb:
        opts["disk"] = f"{spec.disk_gb}g"
    if "cuda.device" in resources and spec.device_model:  # the scheduler takes only these
        opts[DEVICE_MODEL] = spec.device_model
    return SessionSpec(
        image=spec.image, resources=resources, resource_opts=opts, env=dict(spec.env),
        ports=tuple(PortSpec(p.port, p.protocol) for p in spec.ports), mounts=mounts,
    )  # fmt: skip


def _missing(pod_id: int) -> NotFound:
    return NotFound("pod", f"No pod with id {pod_id}.")


class PodService:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        *,
        compute: ComputeService,
        accelerators: Accelerators,
        auths: RegistryAuthService,
        volumes: VolumeService | None = None,
        images: ImageService | None = None,
    ) -> None:
        self._sessions, self._clock = sessions, clock
        self._compute, self._accelerators, self._auths = compute, accelerators, auths
        self._volumes, self._images = volumes, images

    async def create(self, caller: Principal, req: PodRequest) -> Pod:
        """A new pod of the caller (named ``pod-<id>`` when ``req.name`` is empty), its
        session queued for the scheduler. Raises
        InvalidValue (unknown image, credential, GPU type, too many GPUs), InvalidRequest."""
        spec = req.spec
        if req.device is not None:
            spec = dataclasses.replace(spec, device_model=req.device.model)
            req = dataclasses.replace(req, spec=spec)
        if spec.registry_auth_id is not None:
            try:
                await self._auths.get(caller.user_uuid, spec.registry_auth_id)
            except NotFound:
                raise InvalidValue("registry_auth_id", "no such registry credential") from None
        count = spec.gpu_count if spec.resource is ResourceKind.GPU else 0
        group = choose_group(await self._accelerators.groups(), req.scaling_groups, req.device,
                             count, spec.gpu_type)  # fmt: skip
        await self._check_image(spec.image)  # before a volume is made for the pod
        spec, mounts, made = await self._mounts(caller, req, group)
        try:
            return await self._create(caller, req, spec, group, mounts)
        except BaseException:
            if made is not None and self._volumes is not None:
                with contextlib.suppress(HangarError):
                    await self._volumes.delete(caller, made)
            raise

    async def _check_image(self, ref: str) -> None:
        if self._images is None:
            return
        try:
            await self._images.resolve(ref)
        except NotFound as exc:
            raise InvalidValue("image", exc.message) from None

    async def _mounts(
        self, caller: Principal, req: PodRequest, group: str
    ) -> tuple[PodSpec, tuple[MountSpec, ...], int | None]:
        """The spec with its new persistent volume (when it asks for one: created here,
        kept after the pod), the volumes' mounts, and the new volume's id."""
        spec, made = req.spec, None
        if not spec.volumes and not spec.persistent_gb:
            return spec, (), None
        if self._volumes is None:
            raise InvalidValue("volumes", "this server has no volumes")
        if spec.persistent_gb:
            view = await self._volumes.create(
                caller, name=f"{req.name or 'pod'}-disk"[:64], storage_type=StorageType.CEPH,
                size_gb=spec.persistent_gb,
            )  # fmt: skip
            made = view.volume.id
            spec = dataclasses.replace(spec, volumes=(*spec.volumes,
                                                      (made, spec.persistent_path)))  # fmt: skip
        try:
            mounts = await self._volumes.mounts_for(caller, dict(spec.volumes))
        except NotFound:
            raise InvalidValue("volumes", "no such volume") from None
        return spec, mounts, made

    async def _create(
        self, caller: Principal, req: PodRequest, spec: PodSpec, group: str,
        mounts: tuple[MountSpec, ...],
    ) -> Pod:  # fmt: skip
        async with self._sessions() as db, db.begin():
            record = await repo.add(db, owner=caller.user_uuid, name=req.name, spec=spec,
                                    scaling_group=group, now=self._clock.now())  # fmt: skip
            if not req.name:  # a generated name, as the session's
                record = await repo.rename(db, record.id, session_name(record.id))
        try:
            session = await self._start(caller, record, group, mounts)
        except BaseException:
            async with self._sessions() as db, db.begin():
                await repo.remove(db, record.id)
            raise
        async with self._sessions() as db, db.begin():
            await repo.set_session(db, record.id, session.id)
        return self._pod(dataclasses.replace(record, session_id=session.id), session)

    async def _start(
        self, caller: Principal, record: PodRecord, group: str, mounts: tuple[MountSpec, ...]
    ) -> ComputeSession:
        request = CreateRequest(
            name=session_name(record.id), spec=session_spec(record.spec, mounts),
            origin=Origin(OriginKind.POD, str(record.id)), session_type=SessionType.INTERACTIVE,
            domain_name=caller.domain_name, scaling_group=group, enqueue_only=True,
            reuse_if_exists=False,
        )  # fmt: skip
        try:
            return (await self._compute.create(caller, request)).session
        except NotFound as exc:
            if exc.kind == "image":
                raise InvalidValue("image", exc.message) from None
            if exc.kind == "scaling group":
                raise InvalidValue("regions", "no such region") from None
            raise

    def _pod(self, record: PodRecord, session: ComputeSession | None) -> Pod:
        status = pod_status(session.status if session else None,
                            deleted=record.deleted_at is not None)  # fmt: skip
        updated = max(record.created_at, session.status_changed) if session else record.created_at
        return Pod(
            id=record.id, owner_uuid=record.owner_uuid, name=record.name, spec=record.spec,
            scaling_group=record.scaling_group, session_id=record.session_id,
            session_name=session_name(record.id), status=status,
            status_info=session.status_info if session else None,
            created_at=record.created_at, updated_at=updated,
            started_at=session.started_at if session else None,
        )  # fmt: skip

    async def _session(self, record: PodRecord) -> ComputeSession | None:
        if record.session_id is None:
            return None
        try:
            return await self._compute.get(record.session_id)
        except NotFound:
            return None

    async def _record(self, owner: uuid.UUID, pod_id: int) -> PodRecord:
        async with self._sessions() as db:
            record = await repo.get(db, owner, pod_id)
        if record is None:
            raise _missing(pod_id)
        return record

    async def get(self, caller: Principal, pod_id: int) -> Pod:
        """One of the caller's pods. Raises NotFound (another user's pod too)."""
        record = await self._record(caller.user_uuid, pod_id)
        return self._pod(record, await self._session(record))

    async def owned(
        self,
        caller: Principal,
        *,
        statuses: frozenset[PodStatus] | None = None,
        scaling_groups: frozenset[str] | None = None,
    ) -> list[Pod]:
        """The caller's pods, oldest first, of the given statuses and groups (None: any)."""
        async with self._sessions() as db:
            records = await repo.owned(db, caller.user_uuid)
        pods = [self._pod(r, await self._session(r)) for r in records
                if scaling_groups is None or r.scaling_group in scaling_groups]  # fmt: skip
        return [p for p in pods if statuses is None or p.status in statuses]

    async def pause(self, caller: Principal, pod_id: int) -> Pod:
        """RUNNING -> STOPPED. Raises NotFound, Conflict (not running)."""
        pod = await self.get(caller, pod_id)
        if pod.status not in CAN_PAUSE or pod.session_id is None:
            raise Conflict(f"Pod {pod_id} is {pod.status.value}; only a running pod pauses.")
        try:
            await self._compute.suspend(caller, str(pod.session_id))
        except InvalidRequest as exc:
            raise Conflict(exc.message) from None
        return await self.get(caller, pod_id)

    async def resume(self, caller: Principal, pod_id: int) -> Pod:
        """STOPPED -> INITIALIZING (placed again) -> RUNNING. Raises NotFound, Conflict."""
        pod = await self.get(caller, pod_id)
        if pod.status not in CAN_RESUME or pod.session_id is None:
            raise Conflict(f"Pod {pod_id} is {pod.status.value}; only a stopped pod resumes.")
        try:
            await self._compute.resume(caller, str(pod.session_id))
        except InvalidRequest as exc:
            raise Conflict(exc.message) from None
        return await self.get(caller, pod_id)

    async def delete(self, caller: Principal, pod_id: int) -> None:
        """Terminate the pod's session; the pod stays readable as TERMINATED. Raises
        NotFound, Conflict (already terminated)."""
        pod = await self.get(caller, pod_id)
        if pod.status is PodStatus.TERMINATED:
            raise Conflict(f"Pod {pod_id} is already terminated.")
        async with self._sessions() as db, db.begin():
            await repo.mark_deleted(db, pod_id, self._clock.now())
        if pod.session_id is not None:
            with contextlib.suppress(NotFound):  # ended meanwhile
                await self._compute.destroy(caller, str(pod.session_id))

    async def logs(self, caller: Principal, pod_id: int) -> str:
        """The pod's console: its init command's output. Raises NotFound."""
        pod = await self.get(caller, pod_id)
        if pod.session_id is None:
            return ""
        try:
            return await self._compute.logs(caller, str(pod.session_id))
        except HangarError:  # never started, or its agent is gone
            return ""
