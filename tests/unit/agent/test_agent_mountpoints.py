"""Which processes count as a sandbox still being built, read from a fake /proc."""

from __future__ import annotations

from pathlib import Path

from hangar.agent.runtimes.mountpoints import remove_mount_point, sandboxes_in_setup


def fake_proc(root: Path, procs: dict[int, tuple[str, str, int]]) -> Path:
    for pid, (comm, state, ppid) in procs.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "stat").write_text(f"{pid} ({comm}) {state} {ppid} 0 0 0\n")
    (root / "self").mkdir()
    return root


def test_a_bwrap_without_children_is_building_its_sandbox(tmp_path: Path) -> None:
    running = {10: ("bwrap", "S", 1), 11: ("bwrap", "S", 10), 12: ("python3", "S", 11)}
    assert not sandboxes_in_setup(fake_proc(tmp_path / "a", running))
    building = {**running, 20: ("bwrap", "S", 1), 21: ("bwrap", "R", 20)}
    assert sandboxes_in_setup(fake_proc(tmp_path / "b", building))


def test_zombies_and_odd_names_do_not_count(tmp_path: Path) -> None:
    procs = {30: ("bwrap", "Z", 1), 31: ("my (bwrap) tool", "S", 1)}
    assert not sandboxes_in_setup(fake_proc(tmp_path, procs))


def test_remove_mount_point_is_idempotent(tmp_path: Path) -> None:
    target = tmp_path / "k1"
    target.mkdir()
    remove_mount_point(target, wait=0)
    remove_mount_point(target, wait=0)
    assert not target.exists()
