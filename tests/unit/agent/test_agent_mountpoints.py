"""Which processes count as a sandbox still being built, read from a fake /proc."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hangar.agent.runtimes import mountpoints
from hangar.agent.runtimes.mountpoints import remove_mount_point, sandboxes_in_setup

AGENT = 1


def fake_proc(root: Path, procs: dict[int, tuple[str, int]]) -> Path:
    """``procs``: pid -> (comm, parent pid); the agent is pid 1."""
    for pid, (comm, _parent) in {AGENT: ("hangar", 0), **procs}.items():
        (root / str(pid) / "task" / str(pid)).mkdir(parents=True)
        (root / str(pid) / "comm").write_text(comm + "\n")
        kids = [str(child) for child, (_c, parent) in procs.items() if parent == pid]
        (root / str(pid) / "task" / str(pid) / "children").write_text(" ".join(kids))
    return root


def test_a_bwrap_without_children_is_building_its_sandbox(tmp_path: Path) -> None:
    running = {10: ("bwrap", AGENT), 11: ("bwrap", 10), 12: ("python3", 11)}
    assert not sandboxes_in_setup(fake_proc(tmp_path / "a", running), AGENT)
    building = {**running, 20: ("bwrap", AGENT), 21: ("bwrap", 20)}
    assert sandboxes_in_setup(fake_proc(tmp_path / "b", building), AGENT)


def test_only_the_agents_own_sandboxes_count(tmp_path: Path) -> None:
    others = {10: ("sh", AGENT), 30: ("bwrap", 99)}  # 30 is not a descendant of the agent
    assert not sandboxes_in_setup(fake_proc(tmp_path, others), AGENT)


def test_remove_mount_point_is_idempotent(tmp_path: Path) -> None:
    target = tmp_path / "k1"
    target.mkdir()
    remove_mount_point(target, wait=0)
    remove_mount_point(target, wait=0)
    assert not target.exists()


def test_waiting_on_a_sandbox_being_built_looks_at_proc_less_and_less_often(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    looks: list[float] = []

    def still_building() -> bool:
        looks.append(time.monotonic())
        return True

    monkeypatch.setattr(mountpoints, "sandboxes_in_setup", still_building)
    started = time.monotonic()
    mountpoints.wait_quiet(0.3)
    assert 0.29 <= time.monotonic() - started < 0.6  # the whole wait, no longer
    assert len(looks) <= 12  # every 10 ms would be about 30
    target = tmp_path / "k1"
    target.mkdir()
    looks.clear()
    remove_mount_point(target, wait=0)  # no wait asked: /proc is not read at all
    assert looks == [] and not target.exists()
