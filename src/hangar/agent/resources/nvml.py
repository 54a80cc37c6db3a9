"""NVIDIA GPUs through NVML (the ``pynvml`` module of ``nvidia-ml-py``).

Everything degrades to "no GPUs" with a reason when the module, the library or the driver is
missing; nothing here raises for an absent GPU stack.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hangar.agent.resources.devices import AcceleratorDevice, AcceleratorStats


@dataclass(frozen=True, slots=True)
class NvmlReport:
    """Devices found, or none and ``unavailable`` saying why."""

    devices: tuple[AcceleratorDevice, ...]
    unavailable: str | None = None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@contextmanager
def _session(nvml: Any) -> Iterator[None]:
    nvml.nvmlInit()
    try:
        yield
    finally:
        nvml.nvmlShutdown()


def load_nvml() -> Any | None:
    """Return the ``pynvml`` module, or None when it is not installed."""
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        return None


def _device(nvml: Any, index: int) -> AcceleratorDevice:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    try:
        node: str | None = f"/dev/nvidia{int(nvml.nvmlDeviceGetMinorNumber(handle))}"
    except nvml.NVMLError:
        node = None
    return AcceleratorDevice(
        slot="cuda",
        index=index,
        uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
        model=_text(nvml.nvmlDeviceGetName(handle)),
        memory_bytes=int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
        device_node=node,
    )


def list_nvidia_gpus(nvml: Any | None = None) -> NvmlReport:
    """Return the host's NVIDIA GPUs in NVML index order (``nvml``: a stand-in module)."""
    nvml = nvml if nvml is not None else load_nvml()
    if nvml is None:
        return NvmlReport((), "pynvml (nvidia-ml-py) is not installed")
    try:
        with _session(nvml):
            count = int(nvml.nvmlDeviceGetCount())
            return NvmlReport(tuple(_device(nvml, index) for index in range(count)))
    except nvml.NVMLError as exc:
        return NvmlReport((), f"NVML unavailable: {exc}")


def read_nvidia_stats(nvml: Any | None = None) -> tuple[AcceleratorStats, ...]:
    """Return utilisation and memory use per GPU; empty where NVML is unavailable."""
    nvml = nvml if nvml is not None else load_nvml()
    if nvml is None:
        return ()
    stats: list[AcceleratorStats] = []
    try:
        with _session(nvml):
            for index in range(int(nvml.nvmlDeviceGetCount())):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                stats.append(
                    AcceleratorStats(
                        index=index,
                        uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                        utilization_percent=float(rates.gpu),
                        memory_used_bytes=int(memory.used),
                        memory_total_bytes=int(memory.total),
                    )
                )
    except nvml.NVMLError:
        return ()
    return tuple(stats)
