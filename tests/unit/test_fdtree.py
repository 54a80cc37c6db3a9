"""hangar.util.fdtree on trees a session has written: what a copy keeps and leaves out, deep
trees, links where directories are expected, and messages without host paths."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hangar.agent.runtimes.scratch import prepare_scratch
from hangar.util import fdtree


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    (outside / "passwd").write_text("root:x:0:0")
    (outside / "passwd").chmod(0o644)
    return outside


def nest(root: Path, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)


def test_copy_keeps_files_and_modes_and_leaves_out_links_and_specials(
    tmp_path: Path, host_dir: Path
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "b" / "data.bin").write_bytes(b"x" * 70_000)
    (src / "a" / "tool").write_text("#!/bin/sh\n")
    (src / "a" / "tool").chmod(0o4755)
    (src / "a" / "b").chmod(0o750)
    os.utime(src / "a" / "tool", (1_000_000, 1_000_000))
    (src / "passwd").symlink_to(host_dir / "passwd")
    (src / "etc").symlink_to(host_dir)
    os.mkfifo(src / "pipe")
    dst.mkdir()
    seen: list[int] = []

    copied = fdtree.copy_tree(src, dst, owner=(1000, 1000), progress=seen.append)

    assert copied == 70_000 + 10 and seen[-1] == copied
    names = sorted(str(p.relative_to(dst)) for p in dst.rglob("*"))
    assert names == ["a", "a/b", "a/b/data.bin", "a/tool"]
    assert stat.S_IMODE((dst / "a" / "tool").stat().st_mode) == 0o755  # no setuid
    assert stat.S_IMODE((dst / "a" / "b").stat().st_mode) == 0o750
    assert (dst / "a" / "tool").stat().st_mtime == 1_000_000
    assert {p.stat().st_uid for p in dst.rglob("*")} == {1000}
    assert (host_dir / "passwd").stat().st_uid == 0


def test_copy_refuses_trees_too_deep_with_a_relative_path(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    nest(src, fdtree.MAX_DEPTH + 5)
    with pytest.raises(fdtree.TreeError) as caught:
        fdtree.copy_tree(src, dst)
    message = str(caught.value)
    assert message.startswith("Cannot copy d/d/") and "directories deep" in message
    assert str(tmp_path) not in message


def test_deep_trees_are_measured_and_removed(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    nest(tree, 1000)
    (tree / "f").write_bytes(b"12345")
    assert fdtree.measure(tree) == fdtree.TreeUsage(1, 5)
    fdtree.remove_tree(tree)
    assert not tree.exists()
    fdtree.remove_tree(tree)  # idempotent


def test_removing_a_link_removes_the_link_only(tmp_path: Path, host_dir: Path) -> None:
    link = tmp_path / "scratch"
    link.symlink_to(host_dir)
    fdtree.remove_tree(link)
    assert not link.is_symlink() and (host_dir / "passwd").exists()
    assert fdtree.measure(link) == fdtree.TreeUsage(0, 0)


def test_a_kept_scratch_dir_with_a_link_at_a_mount_point_is_refused(
    tmp_path: Path, host_dir: Path
) -> None:
    """The agent prepares mount points in a scratch dir sandboxed code wrote before (a
    restart): a link planted there must not make the host directory the work user's."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "data").symlink_to(host_dir)
    with pytest.raises(OSError, match="data: not a directory"):
        prepare_scratch(scratch, (1000, 1000), ["data/inner"])
    assert host_dir.stat().st_uid == 0 and not (host_dir / "inner").exists()
    prepare_scratch(scratch, (1000, 1000), ["models/v1"])
    assert (scratch / "models" / "v1").stat().st_uid == 1000
    assert scratch.stat().st_uid == 1000


def test_chmod_files_leaves_links_alone(tmp_path: Path, host_dir: Path) -> None:
    ssh = tmp_path / "ssh"
    ssh.mkdir(mode=0o777)
    (ssh / "id_rsa").write_text("key")
    (ssh / "id_rsa").chmod(0o666)
    (ssh / "authorized_keys").symlink_to(host_dir / "passwd")
    fdtree.chmod_files(ssh, dir_mode=0o700, file_mode=0o600)
    assert stat.S_IMODE(ssh.stat().st_mode) == 0o700
    assert stat.S_IMODE((ssh / "id_rsa").stat().st_mode) == 0o600
    assert stat.S_IMODE((host_dir / "passwd").stat().st_mode) == 0o644
