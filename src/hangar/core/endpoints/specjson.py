"""An endpoint's spec as stored in its row (JSON) and back."""

from __future__ import annotations

from typing import Any

from hangar.core.compute.ports import PortProtocol
from hangar.core.endpoints.models import EndpointSpec, Placement, Scaling
from hangar.core.pods.models import DeviceChoice


def _placement_json(p: Placement) -> dict[str, Any]:
    device = None if p.device is None else [p.device.model, p.device.memory_bytes]
    return {"group": p.scaling_group, "gpu_type": p.gpu_type, "gpu_count": p.gpu_count,
            "device": device}  # fmt: skip


def _placement(data: dict[str, Any]) -> Placement:
    device = data.get("device")
    choice = None if not device else DeviceChoice(str(device[0]), int(device[1]))
    return Placement(str(data["group"]), str(data.get("gpu_type", "")),
                     int(data.get("gpu_count", 0)), choice)  # fmt: skip


def spec_to_json(spec: EndpointSpec) -> dict[str, Any]:
    s = spec.scaling
    return {
        "image": spec.image, "placements": [_placement_json(p) for p in spec.placements],
        "image_registry": spec.image_registry, "registry_auth_id": spec.registry_auth_id,
        "disk_gb": spec.disk_gb, "cpu": spec.cpu, "memory_gb": spec.memory_gb,
        "env": [list(pair) for pair in spec.env], "init_command": spec.init_command,
        "port": spec.port, "protocol": spec.protocol.value, "health_path": spec.health_path,
        "scaling": [s.min_workers, s.max_workers, s.idle_seconds, s.per_worker],
        "extras": dict(spec.extras),
    }  # fmt: skip


def spec_from_json(data: dict[str, Any]) -> EndpointSpec:
    scaling = data.get("scaling") or [0, 0, 300, 1]
    port = data.get("port")
    return EndpointSpec(
        image=str(data["image"]),
        placements=tuple(_placement(p) for p in data.get("placements", [])),
        image_registry=str(data.get("image_registry", "")),
        registry_auth_id=data.get("registry_auth_id"),
        disk_gb=int(data.get("disk_gb", 0)), cpu=int(data.get("cpu", 1)),
        memory_gb=int(data.get("memory_gb", 0)),
        env=tuple((str(k), str(v)) for k, v in data.get("env", [])),
        init_command=str(data.get("init_command", "")),
        port=None if port is None else int(port),
        protocol=PortProtocol(data.get("protocol", "http")),
        health_path=str(data.get("health_path", "")),
        scaling=Scaling(*(int(v) for v in scaling)),
        extras=dict(data.get("extras", {})),
    )  # fmt: skip
