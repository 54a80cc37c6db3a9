"""Pods, ``/v2/pods`` (P1-P6) and the pod's log (``GET /v2/pods/{id}/logs``, Hangar's own).

A pod is a compute session of its owner named ``pod-<id>`` (what ``backend.ai ps`` shows);
another user's pod answers 13000 like an unknown one; pause/resume in the wrong state is
12001. Paused pods are ``STOPPED`` (the SDK's word); ``PAUSED``/``PAUSING`` and the integer
codes of spec §3.2 are accepted in ``statusList``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, field_validator, model_validator

from hangar.api.cloud.gputypes import gpu_type
from hangar.api.cloud.podwire import pod_wires, statuses_of
from hangar.api.cloud.registry import Call, WireModel, route
from hangar.core.compute.ports import PortProtocol
from hangar.core.errors import InvalidRequest, InvalidValue
from hangar.core.pods.models import DeviceChoice, PodPort, PodRequest, PodSpec, ResourceKind

Text255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
EnvKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
GB = Annotated[int, Field(ge=0, le=10240)]
PerCard = Annotated[int, Field(ge=0, le=1536)]
MountPath = Annotated[str, StringConstraints(pattern=r"^/[^\x00]{0,254}$")]


class EnvVar(WireModel):
    key: EnvKey
    value: Annotated[str, Field(max_length=32768)] = ""


class Expose(WireModel):
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: str = "http"

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        if value.lower() not in ("http", "tcp", "ssh"):
            raise ValueError("expected http or tcp")
        return value.lower()


class PersistentVolume(WireModel):
    volume_id: Annotated[int, Field(ge=1)]
    mount_path: MountPath
    need_backup: bool | None = None


class CreatePod(WireModel):
    name: Text255 | None = None
    regions: Annotated[list[Text255], Field(max_length=32)] | None = None
    image: Text255
    image_registry: Annotated[str, Field(max_length=255)] | None = None
    image_public_type: Literal["PUBLIC", "PRIVATE", "OFFICIAL", "CUSTOM"] | None = None
    container_registry_auth_id: Annotated[int, Field(ge=1)] | None = None
    credential_id: Annotated[int, Field(ge=1)] | None = None
    image_registry_username: Annotated[str, Field(max_length=255)] | None = None
    image_registry_password: Annotated[str, Field(max_length=255)] | None = None
    resource_type: Literal["GPU", "CPU"] = "GPU"
    gpu_type: Annotated[str, Field(max_length=64)] | None = None
    gpu_count: Annotated[int, Field(ge=0, le=64)] | None = None
    min_single_card_vram_in_gb: PerCard | None = None
    min_single_card_ram_in_gb: PerCard | None = None
    min_single_card_vcpu: Annotated[int, Field(ge=0, le=256)] | None = None
    shm_in_gb: GB | None = None
    container_volume_in_gb: GB | None = None
    persistent_volume_in_gb: GB | None = None
    persistent_mount_path: MountPath | None = None
    initialization_command: Annotated[str, Field(max_length=8192)] | None = None
    environment_vars: Annotated[list[EnvVar], Field(max_length=256)] | None = None
    env_vars: Annotated[list[EnvVar], Field(max_length=256)] | None = None
    expose: Annotated[list[Expose], Field(max_length=16)] | None = None
    persistent_volumes: Annotated[list[PersistentVolume], Field(max_length=16)] | None = None

    @model_validator(mode="after")
    def _gpu(self) -> CreatePod:
        if self.resource_type == "GPU":
            if not self.gpu_type:
                raise ValueError("gpuType is required for a GPU pod")
            count = self.gpu_count or 0
            if count < 1 or count & (count - 1):
                raise ValueError("gpuCount must be a power of two (1, 2, 4, 8, ...)")
        if (self.persistent_volume_in_gb or 0) > 0 and not self.persistent_mount_path:
            raise ValueError("persistentMountPath is required with persistentVolumeInGb")
        if self.regions is not None and len(set(self.regions)) != len(self.regions):
            raise ValueError("regions must be unique")
        return self


WIRE_FIELDS = {"image": "image", "registry_auth_id": "containerRegistryAuthId",
               "gpu_type": "gpuType", "gpu_count": "gpuCount", "regions": "regions",
               "resources": "minSingleCardVcpu", "resource_opts": "shmInGb",
               "volumes": "persistentVolumes"}  # fmt: skip


def _wire_error(exc: InvalidValue) -> InvalidRequest:
    name = WIRE_FIELDS.get(exc.field, exc.field)
    return InvalidRequest(f"{name}: {exc.reason}", data={name: exc.reason})


async def _device(call: Call, code: str, min_vram: int) -> tuple[DeviceChoice, str]:
    """The device model a GPU type code names in the live inventory, and its display name;
    10001 when none, or when its memory is below ``min_vram`` GB."""
    for group in await call.services.accelerators.groups():
        found = gpu_type(group.model, group.memory_bytes)
        if found.code != code:
            continue
        if found.vram_gb < min_vram:
            why = f"{code} has {found.vram_gb} GB, less than {min_vram}"
            raise InvalidRequest(f"minSingleCardVramInGb: {why}",
                                 data={"minSingleCardVramInGb": why})  # fmt: skip
        return DeviceChoice(group.model, group.memory_bytes), found.display_name
    raise InvalidRequest(f"gpuType: gpu type [{code}] not supported",
                         data={"gpuType": "not supported"})  # fmt: skip


DOCKER_HUB_HOSTS = frozenset({"", "docker.io", "index.docker.io", "registry-1.docker.io"})


def image_reference(image: str, registry: str | None) -> str:
    """``image`` in ``registry`` (a URL or host; Docker Hub: the image as given), unless the
    image names a registry host itself."""
    text: str = registry or ""
    host: str = urlsplit(text if "//" in text else "//" + text).netloc
    first = image.split("/", 1)[0]
    names_host = "/" in image and ("." in first or ":" in first or first == "localhost")
    if host.lower() in DOCKER_HUB_HOSTS or names_host:
        return image
    return f"{host}/{image}"


def _spec(body: CreatePod) -> PodSpec:
    gpu = body.resource_type == "GPU"
    count = body.gpu_count or 0 if gpu else 0
    env = body.environment_vars if body.environment_vars is not None else body.env_vars or []
    ports = tuple(PodPort(e.port, PortProtocol.HTTP if e.protocol == "http" else PortProtocol.TCP)
                  for e in body.expose or [])  # fmt: skip
    cpu = max(1, (body.min_single_card_vcpu or 0) * max(count, 1))
    memory = (body.min_single_card_ram_in_gb or 0) * max(count, 1)
    extras: dict[str, Any] = {
        "imagePublicType": body.image_public_type or "PUBLIC",
        "minSingleCardVramInGb": body.min_single_card_vram_in_gb,
        "minSingleCardRamInGb": body.min_single_card_ram_in_gb,
        "minSingleCardVcpu": body.min_single_card_vcpu,
    }
    return PodSpec(
        image=image_reference(body.image, body.image_registry),
        image_registry=body.image_registry or "",
        registry_auth_id=body.container_registry_auth_id or body.credential_id,
        resource=ResourceKind(body.resource_type), gpu_type=body.gpu_type or "",
        gpu_count=count, cpu=cpu, memory_gb=memory, shm_gb=body.shm_in_gb or 0,
        disk_gb=body.container_volume_in_gb or 0,
        env=tuple((e.key, e.value) for e in env),
        init_command=body.initialization_command or "", ports=ports,
        volumes=tuple((v.volume_id, v.mount_path) for v in body.persistent_volumes or []),
        persistent_gb=body.persistent_volume_in_gb or 0,
        persistent_path=body.persistent_mount_path or "",
        extras={k: v for k, v in extras.items() if v is not None},
    )  # fmt: skip


def scaling_group_of(region: str) -> str:
    return "default" if region == "local" else region


@route("POST", "/v2/pods")
async def create_pod(call: Call) -> dict[str, Any]:
    body = await call.body(CreatePod)
    spec, device = _spec(body), None
    if spec.resource is ResourceKind.GPU:
        device, display = await _device(call, spec.gpu_type, body.min_single_card_vram_in_gb or 0)
        spec = dataclasses.replace(spec, extras={**spec.extras, "gpuDisplayName": display})
    groups = tuple(scaling_group_of(r) for r in body.regions or [])
    pods = call.services.pods
    try:
        created = await pods.create(call.principal, PodRequest(
            name=body.name or "", spec=spec, scaling_groups=groups, device=device))  # fmt: skip
    except InvalidValue as exc:
        raise _wire_error(exc) from None
    return (await pod_wires(call, [created]))[0]


@route("GET", "/v2/pods")
async def list_pods(call: Call) -> list[dict[str, Any]]:
    params = call.request.query_params
    statuses = statuses_of(params.getlist("statusList"))
    regions = [r.strip() for raw in params.getlist("regionList") for r in raw.split(",")]
    groups = frozenset(scaling_group_of(r) for r in regions if r) or None
    pods = await call.services.pods.owned(call.principal, statuses=statuses,
                                          scaling_groups=groups)  # fmt: skip
    return await pod_wires(call, pods)


@route("GET", "/v2/pods/{id}")
async def get_pod(call: Call) -> dict[str, Any]:
    pod = await call.services.pods.get(call.principal, call.path_id())
    return (await pod_wires(call, [pod]))[0]


@route("DELETE", "/v2/pods/{id}")
async def delete_pod(call: Call) -> bool:
    await call.services.pods.delete(call.principal, call.path_id())
    return True


@route("POST", "/v2/pods/{id}/pause")
async def pause_pod(call: Call) -> bool:
    await call.services.pods.pause(call.principal, call.path_id())
    return True


@route("POST", "/v2/pods/{id}/resume")
async def resume_pod(call: Call) -> bool:
    await call.services.pods.resume(call.principal, call.path_id())
    return True


@route("GET", "/v2/pods/{id}/logs")
async def pod_logs(call: Call) -> dict[str, Any]:
    pod_id = call.path_id()
    return {"podId": pod_id, "logs": await call.services.pods.logs(call.principal, pod_id)}
