"""Backend.AI's usage report (``/resource/usage/month|period``: per group the ``g_*``
totals and the sessions as ``c_infos``) and ``/resource/check-presets`` answer."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from hangar.core.resources.usage import GroupUse, Headroom, Inventory, SessionUse
from hangar.core.scheduler.slots import format_amount


def session_usage(use: SessionUse) -> dict[str, Any]:
    return {
        "name": use.name,
        "access_key": use.access_key,
        "image_name": use.image,
        "used_days": use.used_days,
        "used_seconds": use.used_seconds,
        "created_at": str(use.created_at),
        "terminated_at": str(use.terminated_at) if use.terminated_at else None,
        "status": use.status,
        "smp": float(use.cpus),
        "mem_allocated": int(use.mem_allocated),
        "cpu_used": str(use.cpu_used),
        "mem_used": str(use.mem_used),  # the peak
        "io_read": str(use.io_read),
        "io_write": str(use.io_write),
        "nfs": list(use.mounts),
        "device_type": "cuda" if use.uses_gpu else "cpu",
    }


def group_usage(use: GroupUse) -> dict[str, Any]:
    items = [session_usage(s) for s in use.sessions]

    def total(key: str) -> Decimal:
        return sum((Decimal(str(i[key])) for i in items), Decimal(0))

    return {
        "g_id": str(use.group_id),
        "g_name": use.group_name,
        "domain_name": use.domain_name,
        "g_smp": float(total("smp")),
        "g_cpu_used": format_amount(total("cpu_used")),
        "g_mem_allocated": int(total("mem_allocated")),
        "g_mem_used": format_amount(total("mem_used")),
        "g_io_read": format_amount(total("io_read")),
        "g_io_write": format_amount(total("io_write")),
        "g_device_type": sorted({i["device_type"] for i in items}),
        "c_infos": items,
    }


def _wire(slots: Mapping[str, Decimal]) -> dict[str, str]:
    return {k: format_amount(v) if not v.is_nan() else "NaN" for k, v in slots.items()}


def check_presets(room: Headroom) -> dict[str, Any]:
    """Amounts as strings, "Infinity" for unlimited."""
    return {
        "keypair_limits": _wire(room.own.limits),
        "keypair_using": _wire(room.own.using),
        "keypair_remaining": _wire(room.own.remaining),
        "group_limits": _wire(room.group.limits),
        "group_using": _wire(room.group.using),
        "group_remaining": _wire(room.group.remaining),
        "scaling_group_remaining": _wire(room.scaling_group_remaining),
        "scaling_groups": {
            name: {"using": _wire(using), "remaining": _wire(free)}
            for name, (using, free) in room.scaling_groups.items()
        },
        "presets": [
            {
                "name": fit.preset.name,
                "resource_slots": fit.preset.resource_slots,
                "shared_memory": str(fit.preset.shared_memory)
                if fit.preset.shared_memory
                else None,
                "allocatable": fit.allocatable,
            }
            for fit in room.presets
        ],
    }


def inventory(found: Inventory) -> dict[str, Any]:
    """``GET /resource/inventory``: slots as strings, each accelerator with its agent."""
    gpus = [{"agent": d.agent_id, "status": d.agent_status, **d.device} for d in found.devices]
    return {
        "agents": found.agents,
        "capacity": _wire(found.capacity),
        "using": _wire(found.using),
        "gpus": gpus,
        "gpu_count": len(gpus),
        "storage": [
            {"host": s.host, "capacity_bytes": s.capacity_bytes, "used_bytes": s.used_bytes}
            for s in found.storage
        ],
    }
