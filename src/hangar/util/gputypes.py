"""Device models as GPU type codes (``NVIDIA_H100_80G``, the GPU cloud's catalogue codes),
from model name and memory; a model the table does not know gets a code derived the same way.
Shared by the GPU-cloud face's catalogue and the core's prices (billing)."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class GpuType:
    code: str
    display_name: str
    vram_gb: int


# (pattern over the normalised model name, code, display name, VRAM); first match wins
_KNOWN: tuple[tuple[str, str, str, int], ...] = (
    (r"RTX PRO 6000", "NVIDIA_RTX_PRO_6000_96G", "RTX PRO 6000", 96),
    (r"RTX 6000 ADA", "NVIDIA_RTX_6000_Ada_48G", "RTX 6000 Ada", 48),
    (r"RTX A6000", "NVIDIA_RTX_A6000_48G", "RTX A6000", 48),
    (r"RTX 4090", "NVIDIA_RTX_4090_24G", "RTX 4090", 24),
    (r"RTX 5090", "NVIDIA_RTX_5090_32G", "RTX 5090", 32),
    (r"A100.*PCIE.*(80|79)", "NVIDIA_A100_PCIe_80G", "A100 PCIe 80G", 80),
    (r"A100.*PCIE", "NVIDIA_A100_PCIe_40G", "A100 PCIe 40G", 40),
    (r"A100.*(80|79)", "NVIDIA_A100_80G", "A100 80GB", 80),
    (r"A100", "NVIDIA_A100_40G", "A100 40G", 40),
    (r"H100.*PCIE", "NVIDIA_H100_PCIe_80G", "H100 PCIe", 80),
    (r"H100", "NVIDIA_H100_80G", "H100", 80),
    (r"H200", "NVIDIA_H200_141G", "H200", 141),
    (r"B200", "NVIDIA_B200_180G", "B200", 180),
    (r"B300", "NVIDIA_B300_262G", "B300", 262),
    (r"MI300X", "AMD_MI300X_192G", "MI300X", 192),
    (r"TRAINIUM", "AWS_Trainium_32G", "Trainium1", 32),
)


def _normalised(model: str, memory_bytes: int) -> str:
    gib = round(memory_bytes / GIB)
    return f"{model.upper().replace('-', ' ')} {gib}G"


def gpu_type(model: str, memory_bytes: int) -> GpuType:
    """The catalogue entry of a device (A100s tell 40 GB from 80 GB by memory)."""
    text = _normalised(model, memory_bytes)
    for pattern, code, display, vram in _KNOWN:
        if re.search(pattern, text):
            return GpuType(code, display, vram)
    gib = round(memory_bytes / GIB)
    words = re.sub(r"[^A-Za-z0-9]+", "_", model).strip("_") or "GPU"
    return GpuType(f"{words}_{gib}G", model, gib)


def vm_type_id(code: str, region: str) -> int:
    """A stable number for one GPU type in one region (the catalogue's ``vmTypeId``)."""
    return zlib.crc32(f"{code}@{region}".encode()) & 0x7FFFFFFF
