"""Layers applied to a root file system: whiteouts, opaque directories, ownership, and
hostile tarballs that try to write outside the root (all refused, the host untouched)."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from hangar.agent.images.unpack import Owner, UnsafeLayer, unpack_layers
from tests.support.oci_images import (
    Entry,
    compress,
    directory,
    file,
    hardlink,
    opaque,
    symlink,
    tar_bytes,
    whiteout,
)


def _layers(
    tmp_path: Path, *layers: list[Entry], compression: str = "gzip"
) -> list[tuple[Path, str]]:
    found = []
    for number, entries in enumerate(layers):
        path = tmp_path / f"layer{number}"
        path.write_bytes(compress(tar_bytes(entries), compression))
        found.append((path, compression))
    return found


def test_whiteouts_and_opaque_directories_hide_lower_layers(tmp_path: Path) -> None:
    lower = [directory("a"), file("a/gone", "x"), file("a/kept", "k"), directory("d"),
             file("d/old1", "1"), directory("d/sub"), file("d/sub/old2", "2")]  # fmt: skip
    upper = [whiteout("a/gone"), directory("d"), opaque("d"), file("d/new", "n")]
    root = tmp_path / "rootfs"
    unpack_layers(root, _layers(tmp_path, lower, upper, compression="zstd"), Owner())
    assert sorted(os.listdir(root / "a")) == ["kept"]
    assert sorted(os.listdir(root / "d")) == ["new"]


def test_owners_map_to_the_sandbox_user_and_special_files_are_skipped(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    entries = [file("root-owned", "r"), file("user-owned", "u", 0o4755, uid=1234),
               Entry("dev-null", "chardev"), Entry("pipe", "fifo")]  # fmt: skip
    root = tmp_path / "rootfs"
    report = unpack_layers(root, _layers(tmp_path, entries), Owner(4321, 4321))
    assert (root / "root-owned").stat().st_uid == 0
    user = (root / "user-owned").stat()
    assert (user.st_uid, user.st_gid, user.st_mode & 0o7777) == (4321, 4321, 0o755)
    assert not (root / "dev-null").exists() and not (root / "pipe").exists()
    assert sorted(report.skipped) == ["dev-null", "pipe"]


def test_files_keep_their_times_so_bytecode_caches_stay_valid(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    unpack_layers(root, _layers(tmp_path, [file("m.py", "x = 1\n")]), Owner())
    assert (root / "m.py").stat().st_mtime == 1


def test_links_inside_the_image_are_followed_inside_it(tmp_path: Path) -> None:
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    lower = [directory("usr"), directory("usr/lib"), symlink("lib", "usr/lib"),
             symlink("abs", str(host_dir))]  # fmt: skip
    upper = [file("lib/libx.so", "x"), file("abs/landed", "inside"), hardlink("hl", "lib/libx.so")]
    root = tmp_path / "rootfs"
    unpack_layers(root, _layers(tmp_path, lower, upper), Owner())
    assert (root / "usr/lib/libx.so").read_text() == "x"
    assert (root / host_dir.relative_to("/") / "landed").read_text() == "inside"
    assert not (host_dir / "landed").exists()
    assert (root / "hl").stat().st_ino == (root / "usr/lib/libx.so").stat().st_ino


HOSTILE = {
    "dot-dot": [file("../escaped", "x")],
    "dot-dot-deep": [directory("a"), file("a/../../escaped", "x")],
    "absolute": [file("/tmp/escaped-abs", "x")],
    "symlink-out": [symlink("out", "../../../../../../tmp")],
    "symlink-out-then-write": [directory("a"), symlink("a/up", "../.."), file("a/up/escaped", "x")],
    "hardlink-out": [hardlink("passwd", "/etc/passwd")],
    "hardlink-dot-dot": [hardlink("passwd", "../../../../etc/passwd")],
    "hardlink-to-missing": [hardlink("h", "nothing")],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_layers_are_refused_and_leave_nothing(tmp_path: Path, name: str) -> None:
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    root = work / "rootfs"
    with pytest.raises(UnsafeLayer):
        unpack_layers(root, _layers(work, [file("ok", "fine")], HOSTILE[name]), Owner())
    assert not root.exists() and not (work / "rootfs.building").exists()
    leaked = [p for p in tmp_path.rglob("escaped*")] + list(Path("/tmp").glob("escaped*"))
    assert leaked == []


def test_a_symlink_chain_that_loops_is_refused(tmp_path: Path) -> None:
    loop = [symlink("a", "b"), symlink("b", "a"), file("a/x", "x")]
    with pytest.raises(UnsafeLayer, match="too many symlinks"):
        unpack_layers(tmp_path / "rootfs", _layers(tmp_path, loop), Owner())


def test_a_truncated_layer_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "layer"
    path.write_bytes(compress(tar_bytes([file("big", b"x" * 100_000)]), "gzip")[:500])
    with pytest.raises((EOFError, OSError, tarfile.TarError)):
        unpack_layers(tmp_path / "rootfs", [(path, "gzip")], Owner())
    assert not (tmp_path / "rootfs").exists()
