"""cgroup discovery, path choice, limit files and counters, on fake cgroup trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from hangar.agent.cgroupfs import (
    CgroupLayout,
    CgroupVersion,
    layout_from,
    parse_mountinfo,
    parse_proc_cgroup,
)
from hangar.agent.runtimes.base import ResourceLimits
from hangar.agent.runtimes.cgroups import (
    CgroupManager,
    KernelCgroup,
    limit_writes,
    parent_dirs,
)

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
37 31 0:34 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
38 31 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
40 23 0:40 / /mnt/with\\040space rw - ext4 /dev/sda1 rw
"""
HYBRID_CGROUP = """\
9:name=systemd:/
8:pids:/
4:memory:/agents/a1
2:cpu,cpuacct:/
1:cpuset:/
0::/
"""


def test_parse_mountinfo_finds_v1_controllers_and_v2() -> None:
    mounts = parse_mountinfo(HYBRID_MOUNTINFO)
    assert [(m.version, str(m.mountpoint)) for m in mounts] == [
        (CgroupVersion.V1, "/sys/fs/cgroup/cpu,cpuacct"),
        (CgroupVersion.V1, "/sys/fs/cgroup/memory"),
        (CgroupVersion.V1, "/sys/fs/cgroup/pids"),
        (CgroupVersion.V1, "/sys/fs/cgroup/cpuset"),
        (CgroupVersion.V2, "/sys/fs/cgroup/unified"),
    ]
    assert mounts[0].controllers == {"cpu", "cpuacct"}
    assert mounts[3].controllers == set()  # cpuset is not one we use


def test_mountinfo_unescapes_paths() -> None:
    line = "1 0 0:1 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n"
    assert str(parse_mountinfo(line)[0].mountpoint) == "/sys/fs/my cgroup"


def test_parse_proc_cgroup_splits_comounted_controllers() -> None:
    paths = parse_proc_cgroup(HYBRID_CGROUP)
    assert paths["memory"] == "/agents/a1"
    assert paths["cpu"] == paths["cpuacct"] == "/"
    assert paths[""] == "/"


def test_hybrid_host_uses_v1() -> None:
    layout = layout_from(parse_mountinfo(HYBRID_MOUNTINFO), parse_proc_cgroup(HYBRID_CGROUP))
    assert layout is not None and layout.version is CgroupVersion.V1
    assert layout.dirs["memory"] == Path("/sys/fs/cgroup/memory/agents/a1")
    assert layout.dirs["cpuacct"] == Path("/sys/fs/cgroup/cpu,cpuacct")
    assert "cpuset" not in layout.dirs


def test_pure_v2_host_uses_v2(tmp_path: Path) -> None:
    own = tmp_path / "system.slice" / "hangar.service"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mountinfo = f"30 23 0:26 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    layout = layout_from(parse_mountinfo(mountinfo), {"": "/system.slice/hangar.service"})
    assert layout is not None and layout.version is CgroupVersion.V2
    assert set(layout.dirs) == {"cpu", "io", "memory", "pids"}
    assert set(layout.dirs.values()) == {own}


def test_no_memory_controller_means_no_layout(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    mountinfo = f"30 23 0:26 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    assert layout_from(parse_mountinfo(mountinfo), {"": "/"}) is None


def test_mount_root_inside_a_container_is_stripped() -> None:
    mountinfo = "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    layout = layout_from(parse_mountinfo(mountinfo), {"memory": "/docker/abc/inner"})
    assert layout is not None
    assert layout.dirs["memory"] == Path("/sys/fs/cgroup/memory/inner")


def v1_layout() -> CgroupLayout:
    return CgroupLayout(
        CgroupVersion.V1,
        {"memory": Path("/cg/memory/agents/a1"), "pids": Path("/cg/pids")},
        {"memory": Path("/cg/memory"), "pids": Path("/cg/pids")},
    )


def test_parent_relative_to_own_cgroup_or_absolute() -> None:
    layout = v1_layout()
    assert parent_dirs(layout, "hangar") == {
        "memory": Path("/cg/memory/agents/a1/hangar"),
        "pids": Path("/cg/pids/hangar"),
    }
    assert parent_dirs(layout, "/delegated/hangar") == {
        "memory": Path("/cg/memory/delegated/hangar"),
        "pids": Path("/cg/pids/delegated/hangar"),
    }


def test_kernel_cgroup_paths() -> None:
    manager = CgroupManager(CgroupVersion.V1, parent_dirs(v1_layout(), "hangar"))
    cgroup = manager.cgroup_for("k1")
    assert cgroup.dirs["memory"] == Path("/cg/memory/agents/a1/hangar/k1")
    assert cgroup.procs_files == (
        Path("/cg/memory/agents/a1/hangar/k1/cgroup.procs"),
        Path("/cg/pids/hangar/k1/cgroup.procs"),
    )


def test_comounted_controllers_are_joined_once() -> None:
    shared = Path("/cg/cpu,cpuacct/hangar/k1")
    cgroup = KernelCgroup(CgroupVersion.V1, {"cpu": shared, "cpuacct": shared})
    assert cgroup.procs_files == (shared / "cgroup.procs",)


def test_v1_limit_writes(tmp_path: Path) -> None:
    memory, cpu, pids = tmp_path / "memory", tmp_path / "cpu", tmp_path / "pids"
    memory.mkdir()
    (memory / "memory.memsw.limit_in_bytes").write_text("")
    cgroup = KernelCgroup(CgroupVersion.V1, {"memory": memory, "cpu": cpu, "pids": pids})
    writes = limit_writes(cgroup, ResourceLimits(cpu=0.5, memory_bytes=1 << 20, pids_max=32))
    assert [(p.name, v) for p, v in writes] == [
        ("memory.memsw.limit_in_bytes", "-1"),  # first, so a lower memory limit is accepted
        ("memory.limit_in_bytes", str(1 << 20)),
        ("memory.memsw.limit_in_bytes", str(1 << 20)),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_quota_us", "50000"),
        ("pids.max", "32"),
    ]


def test_v1_unlimited_resets_a_reused_cgroup(tmp_path: Path) -> None:
    cgroup = KernelCgroup(CgroupVersion.V1, {"memory": tmp_path, "cpu": tmp_path, "pids": tmp_path})
    values = {p.name: v for p, v in limit_writes(cgroup, ResourceLimits())}
    assert values == {
        "memory.limit_in_bytes": "-1",
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "-1",
        "pids.max": "max",
    }


def test_v2_limit_writes(tmp_path: Path) -> None:
    cgroup = KernelCgroup(CgroupVersion.V2, dict.fromkeys(("memory", "cpu", "pids"), tmp_path))
    limited = {
        p.name: v
        for p, v in limit_writes(cgroup, ResourceLimits(cpu=2.0, memory_bytes=4096, pids_max=10))
    }
    assert limited == {
        "memory.max": "4096",
        "memory.swap.max": "0",
        "cpu.max": "200000 100000",
        "pids.max": "10",
    }
    free = {p.name: v for p, v in limit_writes(cgroup, ResourceLimits())}
    assert free == {
        "memory.max": "max",
        "memory.swap.max": "max",
        "cpu.max": "max 100000",
        "pids.max": "max",
    }


def test_tiny_cpu_quota_is_clamped_to_the_kernel_minimum(tmp_path: Path) -> None:
    cgroup = KernelCgroup(CgroupVersion.V1, {"cpu": tmp_path})
    values = dict((p.name, v) for p, v in limit_writes(cgroup, ResourceLimits(cpu=0.001)))
    assert values["cpu.cfs_quota_us"] == "1000"


def test_v1_counters(tmp_path: Path) -> None:
    (tmp_path / "cpuacct.usage").write_text("2500000000\n")
    (tmp_path / "memory.usage_in_bytes").write_text("1000\n")
    (tmp_path / "memory.max_usage_in_bytes").write_text("5000\n")
    (tmp_path / "blkio.throttle.io_service_bytes_recursive").write_text(
        "8:0 Read 100\n8:0 Write 7\n8:0 Total 107\n8:16 Read 1\nTotal 108\n"
    )
    (tmp_path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (tmp_path / "pids.events").write_text("max 5\n")
    (tmp_path / "cgroup.procs").write_text("10\n11\n")
    controllers = ("cpuacct", "memory", "blkio", "pids")
    cgroup = KernelCgroup(CgroupVersion.V1, dict.fromkeys(controllers, tmp_path))
    usage = cgroup.usage()
    assert (usage.cpu_ns, usage.mem_cur, usage.mem_max) == (2_500_000_000, 1000, 5000)
    assert (usage.io_read, usage.io_write) == (101, 7)
    assert (cgroup.oom_kills(), cgroup.pids_limit_hits(), cgroup.pids()) == (2, 5, {10, 11})


def test_v2_counters(tmp_path: Path) -> None:
    (tmp_path / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\n")
    (tmp_path / "memory.current").write_text("3000\n")
    (tmp_path / "memory.peak").write_text("9000\n")
    (tmp_path / "io.stat").write_text("8:0 rbytes=10 wbytes=20 rios=1 wios=2\n")
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    cgroup = KernelCgroup(CgroupVersion.V2, dict.fromkeys(("cpu", "memory", "io"), tmp_path))
    usage = cgroup.usage()
    assert (usage.cpu_ns, usage.mem_cur, usage.mem_max) == (1_500_000, 3000, 9000)
    assert (usage.io_read, usage.io_write, cgroup.oom_kills()) == (10, 20, 1)


def test_missing_files_read_as_zero(tmp_path: Path) -> None:
    cgroup = KernelCgroup(CgroupVersion.V1, {"memory": tmp_path / "gone"})
    assert cgroup.usage().mem_max == 0 and cgroup.oom_kills() == 0 and cgroup.pids() == set()


async def test_remove_is_idempotent(tmp_path: Path) -> None:
    cgroup = KernelCgroup(CgroupVersion.V1, {"memory": tmp_path / "k1", "pids": tmp_path / "p1"})
    (tmp_path / "k1").mkdir()
    assert await cgroup.remove() is True
    assert await cgroup.remove() is True
    assert not (tmp_path / "k1").exists()


def test_open_and_create_on_a_fake_tree(tmp_path: Path) -> None:
    memory, pids = tmp_path / "memory" / "agents" / "a1", tmp_path / "pids"
    memory.mkdir(parents=True)
    pids.mkdir()
    layout = CgroupLayout(
        CgroupVersion.V1,
        {"memory": memory, "pids": pids},
        {"memory": tmp_path / "memory", "pids": pids},
    )
    manager = CgroupManager.open(layout, "hangar")
    cgroup = manager.create("k1", ResourceLimits(memory_bytes=1 << 20, pids_max=8))
    assert (memory / "hangar" / "k1" / "memory.limit_in_bytes").read_text() == str(1 << 20)
    assert (pids / "hangar" / "k1" / "pids.max").read_text() == "8"
    assert cgroup == manager.cgroup_for("k1")


def test_v2_open_enables_controllers_down_to_the_parent(tmp_path: Path) -> None:
    own = tmp_path / "system.slice" / "hangar.service"
    own.mkdir(parents=True)
    layout = CgroupLayout(
        CgroupVersion.V2,
        dict.fromkeys(("pids", "memory", "cpu"), own),
        dict.fromkeys(("pids", "memory", "cpu"), tmp_path),
    )
    manager = CgroupManager.open(layout, "hangar")
    levels = [tmp_path, tmp_path / "system.slice", own, own / "hangar"]
    assert [(d / "cgroup.subtree_control").read_text() for d in levels] == [
        "+cpu +memory +pids"
    ] * 4
    assert manager.cgroup_for("k1").dirs["memory"] == own / "hangar" / "k1"


def test_open_fails_where_the_parent_cannot_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "hangar").write_text("not a directory")
    layout = CgroupLayout(CgroupVersion.V1, {"memory": tmp_path}, {"memory": tmp_path})
    with pytest.raises(OSError):
        CgroupManager.open(layout, "hangar")
