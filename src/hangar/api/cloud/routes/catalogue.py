"""GPU types and regions: ``GET /v2/vms/types`` (V6, what the SDK's ``get_gpus`` reads) and
``POST /api/v2/resource/gpu/list`` (G1). Built from the live agents' devices; a region is a
scaling group (the default one is ``local``), named by its description when an administrator
set one; ``available`` = a device of the type is free now.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hangar.api.cloud.gputypes import GpuType, gpu_type, vm_type_id
from hangar.api.cloud.registry import Call, route
from hangar.core.identity.bootstrap import DEFAULT_GROUP_DESCRIPTION

DEFAULT_GROUP = "default"
DEFAULT_REGION = "local"


def region_of(scaling_group: str) -> str:
    return DEFAULT_REGION if scaling_group == DEFAULT_GROUP else scaling_group


def region_name(region: str, description: str) -> str:
    """The first line of the scaling group's description, when an administrator set one."""
    lines = description.strip().splitlines()
    if not lines or description == DEFAULT_GROUP_DESCRIPTION:
        return region
    return lines[0].strip()[:64]


Counts = tuple[str, int, int]  # the region's display name, devices, free devices


async def _catalogue(call: Call) -> dict[GpuType, dict[str, Counts]]:
    """GPU type -> region -> counts."""
    types: dict[GpuType, dict[str, Counts]] = defaultdict(dict)
    for group in await call.services.accelerators.groups():
        region = region_of(group.scaling_group)
        regions = types[gpu_type(group.model, group.memory_bytes)]
        name = region_name(region, group.group_description)
        _, total, free = regions.get(region, (name, 0, 0))
        regions[region] = (name, total + group.total, free + group.free)
    return types


def _region(region: str, name: str, total: int, free: int) -> dict[str, Any]:
    return {
        "region": region,
        "regionName": name,
        "available": free > 0,
        "availableCount": free,
        "totalCount": total,
    }


@route("GET", "/v2/vms/types")
async def vm_types(call: Call) -> list[dict[str, Any]]:
    return [
        {
            "gpuType": kind.code,
            "gpuDisplayName": kind.display_name,
            "vramInGb": kind.vram_gb,
            "regions": [
                {**_region(region, *counts), "vmTypeId": vm_type_id(kind.code, region)}
                for region, counts in sorted(regions.items())
            ],
        }
        for kind, regions in sorted((await _catalogue(call)).items(), key=lambda t: t[0].code)
    ]


@route("POST", "/api/v2/resource/gpu/list")
async def gpu_list(call: Call) -> list[dict[str, Any]]:
    return [
        {
            "gpuType": kind.code,
            "gpuDisplayName": kind.display_name,
            "vramInGb": kind.vram_gb,
            "regions": [_region(r, *c) for r, c in sorted(regions.items())],
        }
        for kind, regions in sorted((await _catalogue(call)).items(), key=lambda t: t[0].code)
    ]
