from __future__ import annotations

import pytest

from hangar.api.cloud.gputypes import GIB, gpu_type, vm_type_id


@pytest.mark.parametrize(
    ("model", "gib", "code"),
    [
        ("NVIDIA GeForce RTX 4090", 24, "NVIDIA_RTX_4090_24G"),
        ("NVIDIA H100 80GB HBM3", 80, "NVIDIA_H100_80G"),
        ("NVIDIA H100 PCIe", 80, "NVIDIA_H100_PCIe_80G"),
        ("NVIDIA A100-SXM4-40GB", 40, "NVIDIA_A100_40G"),
        ("NVIDIA A100-SXM4-80GB", 80, "NVIDIA_A100_80G"),
        ("NVIDIA A100-PCIE-40GB", 40, "NVIDIA_A100_PCIe_40G"),
        ("NVIDIA A100 80GB PCIe", 80, "NVIDIA_A100_PCIe_80G"),
        ("NVIDIA RTX 6000 Ada Generation", 48, "NVIDIA_RTX_6000_Ada_48G"),
        ("NVIDIA RTX A6000", 48, "NVIDIA_RTX_A6000_48G"),
        ("NVIDIA H200", 141, "NVIDIA_H200_141G"),
        ("AMD Instinct MI300X", 192, "AMD_MI300X_192G"),
    ],
)
def test_known_models_map_to_seed_codes(model: str, gib: int, code: str) -> None:
    assert gpu_type(model, gib * GIB).code == code


def test_nvml_memory_sizes_round_to_the_card() -> None:
    assert gpu_type("NVIDIA GeForce RTX 4090", 24564 * (1 << 20)).code == "NVIDIA_RTX_4090_24G"


def test_unknown_models_get_a_derived_code() -> None:
    found = gpu_type("NVIDIA L4", 23 * GIB)
    assert (found.code, found.display_name, found.vram_gb) == ("NVIDIA_L4_23G", "NVIDIA L4", 23)
    assert gpu_type("FakeGPU-80G", 80 * GIB).code == "FakeGPU_80G_80G"
    assert gpu_type("!!!", 0).code == "GPU_0G"


def test_vm_type_ids_are_stable_and_distinct() -> None:
    assert vm_type_id("NVIDIA_H100_80G", "local") == vm_type_id("NVIDIA_H100_80G", "local")
    assert vm_type_id("NVIDIA_H100_80G", "local") != vm_type_id("NVIDIA_H100_80G", "eu")
    assert 0 < vm_type_id("NVIDIA_RTX_4090_24G", "local") < 2**31
