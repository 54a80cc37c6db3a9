"""Resource discovery: sizes, fake inventory, slots, memory/cpu limits, NVML degradation."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hangar.agent.cgroupfs import CgroupLayout, CgroupVersion
from hangar.agent.resources import detect, slots_for
from hangar.agent.resources.cpu import cgroup_cpu_quota, count_cpus
from hangar.agent.resources.fake import parse_fake_accelerators, read_fake_stats
from hangar.agent.resources.memory import cgroup_memory_limit, total_memory_bytes
from hangar.agent.resources.nvml import list_nvidia_gpus, read_nvidia_stats

GIB = 1 << 30


def test_fake_inventory_expands_counts_in_order() -> None:
    devices = parse_fake_accelerators(
        '[{"model": "FakeGPU-80G", "memory": "80g", "count": 2},'
        ' {"model": "FakeGPU-24G", "memory": "24g", "shares": 0.5}]'
    )
    assert [(d.index, d.model, d.memory_bytes, d.shares) for d in devices] == [
        (0, "FakeGPU-80G", 80 * GIB, 1.0),
        (1, "FakeGPU-80G", 80 * GIB, 1.0),
        (2, "FakeGPU-24G", 24 * GIB, 0.5),
    ]
    assert all(d.fake and d.device_node is None and d.slot == "cuda" for d in devices)
    assert len({d.uuid for d in devices}) == 3
    assert (
        parse_fake_accelerators([{"model": "FakeGPU-80G", "count": 2}])[1].uuid == devices[1].uuid
    )
    assert [s.memory_total_bytes for s in read_fake_stats(devices)] == [
        80 * GIB,
        80 * GIB,
        24 * GIB,
    ]


@pytest.mark.parametrize(
    "config",
    [
        '{"model": "x"}',
        "[1]",
        '[{"memory": "1g"}]',
        '[{"model": "x", "shares": 0}]',
        '[{"model": "x", "count": 0}]',
        '[{"model": "x", "count": true}]',
        '[{"model": "x", "memory": "lots"}]',
        '[{"model": "x", "colour": "green"}]',
    ],
)
def test_fake_inventory_rejects_malformed_entries(config: str) -> None:
    with pytest.raises(ValueError):
        parse_fake_accelerators(config)


def test_slots_with_and_without_devices() -> None:
    assert slots_for(4, GIB, []) == {"cpu": Decimal(4), "mem": Decimal(GIB)}
    devices = parse_fake_accelerators([{"model": "F", "count": 3, "shares": 0.1}])
    slots = slots_for(4, GIB, devices)
    assert slots["cuda.device"] == 3
    assert slots["cuda.shares"] == Decimal("0.3")  # exact, not 0.30000000000000004


def test_detect_with_fake_accelerators_skips_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> None:
        raise AssertionError("NVML must not be consulted")

    monkeypatch.setattr("hangar.agent.resources.inventory.list_nvidia_gpus", boom)
    inventory = detect(fake_accelerators=[{"model": "FakeGPU-80G", "memory": "80g", "count": 4}])
    assert inventory.slots["cuda.device"] == 4 and inventory.slots["cuda.shares"] == 4
    assert 1 <= inventory.slots["cpu"] <= len(os.sched_getaffinity(0))
    assert inventory.slots["mem"] > 0
    assert len(inventory.devices) == 4


def v1(tmp_path: Path, controller: str) -> CgroupLayout:
    return CgroupLayout(CgroupVersion.V1, {controller: tmp_path}, {controller: tmp_path})


def test_v1_memory_limit_uses_the_hierarchical_limit(tmp_path: Path) -> None:
    (tmp_path / "memory.stat").write_text("cache 0\nhierarchical_memory_limit 2147483648\n")
    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert cgroup_memory_limit(v1(tmp_path, "memory")) == 2 * GIB


def test_v1_unlimited_memory(tmp_path: Path) -> None:
    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert cgroup_memory_limit(v1(tmp_path, "memory")) is None
    assert cgroup_memory_limit(None) is None


def test_v2_memory_limit_is_the_tightest_ancestor(tmp_path: Path) -> None:
    outer = tmp_path / "a"
    inner = outer / "b"
    inner.mkdir(parents=True)
    (outer / "memory.max").write_text("1073741824\n")
    (inner / "memory.max").write_text("max\n")
    layout = CgroupLayout(CgroupVersion.V2, {"memory": inner}, {"memory": tmp_path})
    assert cgroup_memory_limit(layout) == GIB


def test_total_memory_is_capped_by_the_cgroup(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "meminfo").write_text("MemTotal:       16384000 kB\nMemFree: 1 kB\n")
    (tmp_path / "memory.limit_in_bytes").write_text(f"{GIB}\n")
    assert total_memory_bytes(None, proc) == 16384000 * 1024
    assert total_memory_bytes(v1(tmp_path, "memory"), proc) == GIB


@pytest.mark.parametrize(
    ("quota", "period", "cores"), [("-1", "100000", None), ("150000", "100000", 1.5)]
)
def test_v1_cpu_quota(tmp_path: Path, quota: str, period: str, cores: float | None) -> None:
    (tmp_path / "cpu.cfs_quota_us").write_text(quota)
    (tmp_path / "cpu.cfs_period_us").write_text(period)
    assert cgroup_cpu_quota(v1(tmp_path, "cpu")) == cores


def test_cpu_count_respects_affinity_and_quota(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert count_cpus() == affinity
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    layout = CgroupLayout(CgroupVersion.V2, {"cpu": tmp_path}, {"cpu": tmp_path})
    assert count_cpus(layout) == 1  # half a core still offers one


class FakeNvmlError(Exception):
    pass


def fake_nvml(count: int, *, fail_init: bool = False) -> Any:
    def init() -> None:
        if fail_init:
            raise FakeNvmlError("NVML Shared Library Not Found")

    handles = [SimpleNamespace(i=i) for i in range(count)]
    return SimpleNamespace(
        NVMLError=FakeNvmlError,
        nvmlInit=init,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: count,
        nvmlDeviceGetHandleByIndex=lambda i: handles[i],
        nvmlDeviceGetUUID=lambda h: f"GPU-{h.i}",
        nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3",
        nvmlDeviceGetMinorNumber=lambda h: h.i + 4,
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(total=80 * GIB, used=GIB),
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=37),
    )


def test_nvml_lists_devices() -> None:
    report = list_nvidia_gpus(fake_nvml(2))
    assert report.unavailable is None
    assert [(d.index, d.uuid, d.model, d.device_node) for d in report.devices] == [
        (0, "GPU-0", "NVIDIA H100 80GB HBM3", "/dev/nvidia4"),
        (1, "GPU-1", "NVIDIA H100 80GB HBM3", "/dev/nvidia5"),
    ]
    stats = read_nvidia_stats(fake_nvml(1))
    assert (stats[0].utilization_percent, stats[0].memory_used_bytes) == (37.0, GIB)


def test_nvml_without_a_driver_means_no_gpus() -> None:
    report = list_nvidia_gpus(fake_nvml(2, fail_init=True))
    assert report.devices == () and "Not Found" in (report.unavailable or "")
    assert read_nvidia_stats(fake_nvml(2, fail_init=True)) == ()


def test_nvml_module_missing_means_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hangar.agent.resources.nvml.load_nvml", lambda: None)
    assert list_nvidia_gpus().devices == ()
    assert "not installed" in (list_nvidia_gpus().unavailable or "")
    assert read_nvidia_stats() == ()


def test_detect_on_this_host_never_raises_for_missing_gpus() -> None:
    inventory = detect()
    assert {"cpu", "mem"} <= set(inventory.slots)
    if not inventory.devices:
        assert "cuda.device" not in inventory.slots


def test_the_pinned_nvml_binding_is_installed_and_used() -> None:
    """nvidia-ml-py is a main dependency: the real module loads, and without a driver (or
    without GPUs) the report is empty with a reason; with GPUs it lists real devices."""
    from hangar.agent.resources.nvml import load_nvml

    assert load_nvml() is not None
    report = list_nvidia_gpus()
    if report.devices:
        assert all(d.uuid.startswith(("GPU-", "MIG-")) and d.memory_bytes > 0
                   for d in report.devices)  # fmt: skip
        assert len(read_nvidia_stats()) == len(report.devices)
    elif not Path("/dev/nvidiactl").exists():
        assert "NVML" in (report.unavailable or "")
        assert read_nvidia_stats() == ()
