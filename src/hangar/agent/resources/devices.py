"""Accelerator devices as the agent reports them, whatever found them (NVML or the fake)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AcceleratorDevice:
    """One accelerator that kernels can be given.

    ``index`` is the host's NVML order (what ``/dev/nvidia<index>`` names); ``shares`` is the
    device's capacity in ``cuda.shares`` units (1.0 for a whole device); ``device_node`` is
    the character device a sandbox must see (``/dev/nvidia<minor>``), None for fake devices.
    """

    slot: str
    index: int
    uuid: str
    model: str
    memory_bytes: int
    shares: float = 1.0
    device_node: str | None = None
    fake: bool = False


@dataclass(frozen=True, slots=True)
class AcceleratorStats:
    """A live reading of one device: utilisation in percent and memory in bytes."""

    index: int
    uuid: str
    utilization_percent: float
    memory_used_bytes: int
    memory_total_bytes: int
