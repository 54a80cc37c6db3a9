"""Which processes of a step's group get SIGINT: the sandboxed ones, not the launcher."""

from __future__ import annotations

import os
from pathlib import Path

from hangar.agent.interrupts import sandboxed_members

HOST_NS = "pid:[4026531836]"
KERNEL_NS = "pid:[4026532999]"


def fake_proc(root: Path, processes: dict[int, tuple[str, int, str]]) -> Path:
    """A /proc with ``pid -> (comm, pgid, pid namespace)`` entries and ``self`` on the host."""
    (root / "self" / "ns").mkdir(parents=True)
    os.symlink(HOST_NS, root / "self" / "ns" / "pid")
    for pid, (comm, pgid, namespace) in processes.items():
        (root / str(pid) / "ns").mkdir(parents=True)
        (root / str(pid) / "stat").write_text(f"{pid} ({comm}) S 1 {pgid} {pgid} 0 -1\n")
        os.symlink(namespace, root / str(pid) / "ns" / "pid")
    (root / "meminfo").write_text("MemTotal: 1 kB\n")
    return root


def test_only_members_in_another_namespace(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        {
            100: ("bwrap", 100, HOST_NS),  # the launcher
            101: ("bwrap", 100, KERNEL_NS),  # the sandbox's init
            102: ("python3", 100, KERNEL_NS),
            200: ("python3", 200, KERNEL_NS),  # another kernel's group
            300: ("odd) name (x", 100, KERNEL_NS),  # parentheses in comm
        },
    )
    assert sandboxed_members(100, proc) == [101, 102, 300]


def test_no_namespaces_means_no_members(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {100: ("bash", 100, HOST_NS), 101: ("sleep", 100, HOST_NS)})
    assert sandboxed_members(100, proc) == []


def test_unreadable_entries_are_skipped(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {100: ("bash", 100, KERNEL_NS)})
    (proc / "101").mkdir()  # vanished between listing and reading
    assert sandboxed_members(100, proc) == [100]
    assert sandboxed_members(100, tmp_path / "missing") == []
