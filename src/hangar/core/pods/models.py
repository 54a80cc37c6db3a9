"""Pods as the core hands them out: the request, the stored spec, the status."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from hangar.core.compute.ports import PortProtocol


class PodStatus(StrEnum):
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"  # paused: GPUs released, the container disk kept
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    FAILED = "FAILED"


class ResourceKind(StrEnum):
    GPU = "GPU"
    CPU = "CPU"


@dataclass(frozen=True, slots=True)
class PodPort:
    """A container port the pod exposes through the server's proxy."""

    port: int
    protocol: PortProtocol = PortProtocol.HTTP


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    """Which accelerator a pod wants: the devices' model and memory as the agents report
    them (the face maps its GPU type codes to these)."""

    model: str
    memory_bytes: int


@dataclass(frozen=True, slots=True)
class PodSpec:
    """What a pod runs (stored with the pod; the session is built from it)."""

    image: str
    image_registry: str = ""
    registry_auth_id: int | None = None
    resource: ResourceKind = ResourceKind.GPU
    gpu_type: str = ""  # the code the caller named (a face's word, kept for rendering)
    gpu_count: int = 0
    device_model: str = ""  # the agents' name of that GPU type's devices
    cpu: int = 1
    memory_gb: int = 0  # 0: the server's default
    shm_gb: int = 0
    disk_gb: int = 0  # the container disk (the scratch dir's size); 0: unlimited
    env: tuple[tuple[str, str], ...] = ()
    init_command: str = ""
    ports: tuple[PodPort, ...] = ()
    volumes: tuple[tuple[int, str], ...] = ()  # (volume id, mount path)
    persistent_gb: int = 0  # a new volume of this size, made with the pod, kept after it
    persistent_path: str = ""  # where it is mounted
    extras: dict[str, Any] = field(default_factory=dict)  # accepted, not acted on

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image, "image_registry": self.image_registry,
            "registry_auth_id": self.registry_auth_id, "resource": self.resource.value,
            "gpu_type": self.gpu_type, "gpu_count": self.gpu_count,
            "device_model": self.device_model, "cpu": self.cpu,
            "memory_gb": self.memory_gb, "shm_gb": self.shm_gb, "disk_gb": self.disk_gb,
            "env": [list(pair) for pair in self.env], "init_command": self.init_command,
            "ports": [[p.port, p.protocol.value] for p in self.ports],
            "volumes": [list(v) for v in self.volumes], "extras": dict(self.extras),
            "persistent_gb": self.persistent_gb, "persistent_path": self.persistent_path,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PodSpec:
        return cls(
            image=str(data["image"]), image_registry=str(data.get("image_registry", "")),
            registry_auth_id=data.get("registry_auth_id"),
            resource=ResourceKind(data.get("resource", "GPU")),
            gpu_type=str(data.get("gpu_type", "")), gpu_count=int(data.get("gpu_count", 0)),
            device_model=str(data.get("device_model", "")),
            cpu=int(data.get("cpu", 1)), memory_gb=int(data.get("memory_gb", 0)),
            shm_gb=int(data.get("shm_gb", 0)), disk_gb=int(data.get("disk_gb", 0)),
            env=tuple((str(k), str(v)) for k, v in data.get("env", [])),
            init_command=str(data.get("init_command", "")),
            ports=tuple(PodPort(int(n), PortProtocol(p)) for n, p in data.get("ports", [])),
            volumes=tuple((int(i), str(m)) for i, m in data.get("volumes", [])),
            extras=dict(data.get("extras", {})),
            persistent_gb=int(data.get("persistent_gb", 0)),
            persistent_path=str(data.get("persistent_path", "")),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class PodRequest:
    """A validated request for a new pod (the face translates its wire form to this)."""

    name: str
    spec: PodSpec
    scaling_groups: tuple[str, ...] = ()  # acceptable ones, in order; empty: the default
    device: DeviceChoice | None = None  # None: any device (or none, for CPU pods)


@dataclass(frozen=True, slots=True)
class Pod:
    id: int
    owner_uuid: uuid.UUID
    name: str
    spec: PodSpec
    scaling_group: str
    session_id: uuid.UUID | None
    session_name: str
    status: PodStatus
    status_info: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
