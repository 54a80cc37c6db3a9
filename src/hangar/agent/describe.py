"""What a node tells the core about itself: capacity, devices, platform, notes."""

from __future__ import annotations

import platform
from decimal import Decimal
from importlib import metadata

from hangar.agent.models import DeviceInfo, NodeInfo
from hangar.agent.resources.inventory import AgentInventory
from hangar.agent.runtimes.base import KernelRuntime
from hangar.agent.specs import device_id

_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}


def version() -> str:
    """The installed Hangar version."""
    try:
        return metadata.version("hangar")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def architecture() -> str:
    """The machine architecture in Backend.AI's spelling (``x86_64``, ``aarch64``)."""
    machine = platform.machine()
    return _ARCH.get(machine.lower(), machine)


def node_info(
    agent_id: str, addr: str, inventory: AgentInventory, runtime: KernelRuntime
) -> NodeInfo:
    """Slots ``cpu`` and ``mem`` only (GPU capacity is the device list), the devices with
    their ids, and the inventory's and runtime's notes."""
    devices = tuple(
        DeviceInfo(device_id(d), d.model, d.memory_bytes, Decimal(str(d.shares)))
        for d in inventory.devices
    )
    notes = (f"runtime: {runtime.name}", *inventory.notes, *getattr(runtime, "notes", ()))
    return NodeInfo(
        agent_id=agent_id,
        slots={name: inventory.slots[name] for name in ("cpu", "mem")},
        devices=devices,
        architecture=architecture(),
        version=version(),
        addr=addr,
        notes=notes,
    )
