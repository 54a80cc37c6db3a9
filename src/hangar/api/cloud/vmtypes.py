"""The VM types on offer: one per GPU type per region (``vmTypeId``, as ``GET /v2/vms/types``
lists them), with the devices and scaling group each stands for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hangar.api.cloud.gputypes import gpu_type, vm_type_id
from hangar.core.resources.accelerators import AcceleratorGroup

DEFAULT_GROUP = "default"
DEFAULT_REGION = "local"


@dataclass(frozen=True, slots=True)
class VmType:
    vm_type_id: int
    code: str
    display_name: str
    vram_gb: int
    region: str
    scaling_group: str
    model: str
    memory_bytes: int


def vm_types_of(groups: Sequence[AcceleratorGroup]) -> list[VmType]:
    types: dict[int, VmType] = {}
    for group in groups:
        kind = gpu_type(group.model, group.memory_bytes)
        region = DEFAULT_REGION if group.scaling_group == DEFAULT_GROUP else group.scaling_group
        type_id = vm_type_id(kind.code, region)
        types.setdefault(type_id, VmType(type_id, kind.code, kind.display_name, kind.vram_gb,
                                         region, group.scaling_group, group.model,
                                         group.memory_bytes))  # fmt: skip
    return list(types.values())
