"""What this node offers: resource slot totals and the accelerator list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hangar.agent.cgroupfs import CgroupLayout, detect_layout
from hangar.agent.resources.cpu import count_cpus
from hangar.agent.resources.devices import AcceleratorDevice
from hangar.agent.resources.fake import parse_fake_accelerators
from hangar.agent.resources.memory import total_memory_bytes
from hangar.agent.resources.nvml import list_nvidia_gpus


@dataclass(frozen=True, slots=True)
class AgentInventory:
    """Slot totals (``cpu``, ``mem`` in bytes, ``cuda.device``, ``cuda.shares``) as Decimals,
    the accelerators behind the ``cuda.*`` slots, and notes on what could not be probed."""

    slots: Mapping[str, Decimal]
    devices: tuple[AcceleratorDevice, ...] = ()
    notes: tuple[str, ...] = field(default=())


def slots_for(cpus: int, memory: int, devices: Sequence[AcceleratorDevice]) -> dict[str, Decimal]:
    """Return slot totals; ``cuda.*`` slots appear only when there are devices."""
    slots = {"cpu": Decimal(cpus), "mem": Decimal(memory)}
    if devices:
        slots["cuda.device"] = Decimal(len(devices))
        slots["cuda.shares"] = sum((Decimal(str(d.shares)) for d in devices), Decimal(0))
    return slots


def detect(
    *,
    fake_accelerators: str | Sequence[Mapping[str, Any]] | None = None,
    use_nvml: bool = True,
    layout: CgroupLayout | None = None,
    proc_root: Path = Path("/proc"),
) -> AgentInventory:
    """Probe CPUs, memory and GPUs of this host.

    A configured ``fake_accelerators`` list replaces NVML entirely (tests and demos); otherwise
    NVML is asked when ``use_nvml``. Raises ValueError for a malformed fake list only.
    """
    layout = layout if layout is not None else detect_layout(proc_root)
    notes: list[str] = []
    if fake_accelerators is not None:
        devices = parse_fake_accelerators(fake_accelerators)
        notes.append(f"{len(devices)} fake accelerator(s) configured; NVML not consulted")
    elif use_nvml:
        report = list_nvidia_gpus()
        devices = report.devices
        if report.unavailable:
            notes.append(report.unavailable)
    else:
        devices = ()
    slots = slots_for(count_cpus(layout), total_memory_bytes(layout, proc_root), devices)
    return AgentInventory(MappingProxyType(slots), devices, tuple(notes))
