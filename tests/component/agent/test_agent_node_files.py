"""File transfer through the node on the fake runtime: round trips, tar shape, listings,
output files, limits, and every way sandboxed code could lead the node outside /home/work.

Writes through planted links target decoy files under the test's tmp dir, never real
system files; reads may target /etc/passwd (refusal is the expected outcome).
"""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hangar.agent import files
from hangar.agent.node import Node
from hangar.agent.node_errors import (
    FileAccessFailed,
    FileMissing,
    FileTooLarge,
    IsADirectory,
    NotADirectory,
    PathEscapes,
    UnknownKernel,
)
from hangar.agent.runtimes.fake import FakeRuntime
from tests.support.agent_node import make_node, request

ESCAPES = "Path escapes /home/work"


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    node = make_node(FakeRuntime(), tmp_path, max_upload_bytes=1000, max_download_bytes=5000)
    yield node
    for kernel_id in node.kernel_ids():
        await node.destroy_kernel(kernel_id)


@pytest.fixture
async def kernel(node: Node) -> uuid.UUID:
    creation = request()
    await node.create_kernel(creation)
    return creation.kernel_id


def scratch(node: Node, kernel: uuid.UUID) -> Path:
    return node.scratch_root / str(kernel)


def members(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {member.name: member for member in tar.getmembers()}


def content(archive: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read()


async def test_upload_list_download_round_trip(node: Node, kernel: uuid.UUID) -> None:
    await node.upload(kernel, [("a.txt", b"hello"), ("sub/deep/b.csv", b"1,2\n")])
    await node.upload(kernel, [("a.txt", b"bye")])  # overwritten
    abspath, entries = await node.list_files(kernel, "/home/work")
    assert abspath == "/home/work"
    by_name = {e.filename: e for e in entries}
    assert (by_name["a.txt"].size, by_name["a.txt"].mode) == (3, "-rw-r--r--")
    assert by_name["sub"].mode.startswith("d")
    assert isinstance(by_name["a.txt"].mtime, float)
    abspath, entries = await node.list_files(kernel, "sub/deep")
    assert (abspath, [e.filename for e in entries]) == ("/home/work/sub/deep", ["b.csv"])
    file_tar, dir_tar = await node.download(kernel, ["a.txt", "/home/work/sub"])
    assert list(members(file_tar)) == ["a.txt"] and content(file_tar, "a.txt") == b"bye"
    assert list(members(dir_tar)) == ["sub", "sub/deep", "sub/deep/b.csv"]
    assert content(dir_tar, "sub/deep/b.csv") == b"1,2\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
async def test_uploads_belong_to_the_work_user(node: Node, kernel: uuid.UUID) -> None:
    await node.upload(kernel, [("new/dir/f.txt", b"x")])
    for path in ("new", "new/dir", "new/dir/f.txt"):
        st = (scratch(node, kernel) / path).stat()
        assert (st.st_uid, st.st_gid) == (1000, 1000)


async def test_download_of_home_is_named_work(node: Node, kernel: uuid.UUID) -> None:
    (archive,) = await node.download(kernel, ["."])
    assert "work" in members(archive) and "work/bootstrap.sh" not in members(archive)


async def test_directory_archives_keep_links_as_links(node: Node, kernel: uuid.UUID) -> None:
    await node.upload(kernel, [("d/real.txt", b"r")])
    (scratch(node, kernel) / "d" / "pw").symlink_to("/etc/passwd")
    (archive,) = await node.download(kernel, ["d"])
    link = members(archive)["d/pw"]
    assert link.issym() and link.linkname == "/etc/passwd" and link.size == 0


@pytest.mark.parametrize(
    "path", ["../x", "/etc/x", "/home/work/../x", "a/../../x", "/home/workx", "/tmp/x"]
)
async def test_lexical_escapes_are_refused(node: Node, kernel: uuid.UUID, path: str) -> None:
    with pytest.raises(PathEscapes, match=ESCAPES):
        await node.upload(kernel, [(path, b"x")])
    with pytest.raises(PathEscapes, match=ESCAPES):
        await node.download(kernel, [path])
    with pytest.raises(PathEscapes, match=ESCAPES):
        await node.list_files(kernel, path)
    assert not (scratch(node, kernel).parent / "x").exists()


async def test_links_to_system_files_are_refused(node: Node, kernel: uuid.UUID) -> None:
    home = scratch(node, kernel)
    (home / "pw").symlink_to("/etc/passwd")
    (home / "etc").symlink_to("/etc")
    (home / "up").symlink_to("../../..")
    for path in ("pw", "etc/passwd", "up/etc/passwd", "etc"):
        with pytest.raises(PathEscapes, match=ESCAPES):
            await node.download(kernel, [path])
    for path in ("etc", "up"):
        with pytest.raises(PathEscapes, match=ESCAPES):
            await node.list_files(kernel, path)


async def test_writes_through_planted_links_are_refused(
    node: Node, kernel: uuid.UUID, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    decoy = outside / "decoy.txt"
    decoy.write_bytes(b"original")
    home = scratch(node, kernel)
    (home / "abs-file").symlink_to(decoy)  # an absolute host path: outside in the sandbox
    (home / "rel-file").symlink_to(_relative(decoy, home))
    (home / "abs-dir").symlink_to(outside)
    (home / "chain").symlink_to("rel-file")
    for path in ("abs-file", "rel-file", "abs-dir/decoy.txt", "abs-dir/new.txt", "chain"):
        with pytest.raises(PathEscapes, match=ESCAPES):
            await node.upload(kernel, [(path, b"pwned")])
    assert decoy.read_bytes() == b"original"
    assert sorted(p.name for p in outside.iterdir()) == ["decoy.txt"]


async def test_links_into_another_kernel_are_refused(node: Node, kernel: uuid.UUID) -> None:
    other = request()
    await node.create_kernel(other)
    await node.upload(other.kernel_id, [("secret.txt", b"theirs")])
    home, theirs = scratch(node, kernel), scratch(node, other.kernel_id)
    (home / "rel").symlink_to(f"../{other.kernel_id}")
    (home / "abs").symlink_to(theirs)
    for link in ("rel", "abs"):
        with pytest.raises(PathEscapes):
            await node.download(kernel, [f"{link}/secret.txt"])
        with pytest.raises(PathEscapes):
            await node.list_files(kernel, link)
        with pytest.raises(PathEscapes):
            await node.upload(kernel, [(f"{link}/secret.txt", b"mine")])
    assert (theirs / "secret.txt").read_bytes() == b"theirs"


async def test_links_inside_home_are_followed(node: Node, kernel: uuid.UUID) -> None:
    await node.upload(kernel, [("data/x.txt", b"x")])
    home = scratch(node, kernel)
    (home / "rel").symlink_to("data")
    (home / "abs").symlink_to("/home/work/data")  # a sandbox path
    for link in ("rel", "abs"):
        abspath, entries = await node.list_files(kernel, link)
        assert (abspath, [e.filename for e in entries]) == (f"/home/work/{link}", ["x.txt"])
        (archive,) = await node.download(kernel, [f"{link}/x.txt"])
        assert content(archive, "x.txt") == b"x"
    await node.upload(kernel, [("abs/y.txt", b"y")])
    assert (home / "data" / "y.txt").read_bytes() == b"y"


def test_a_link_swapped_in_after_the_check_is_not_followed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "sub").symlink_to("/etc")
    with pytest.raises(PathEscapes):
        files.open_dir(home, ("sub",))  # what resolve() saw as a directory is now a link


async def test_fifos_cannot_stall_the_node(node: Node, kernel: uuid.UUID) -> None:
    os.mkfifo(scratch(node, kernel) / "pipe")
    with pytest.raises(FileAccessFailed, match="Not a regular file"):
        await node.upload(kernel, [("pipe", b"x")])
    with pytest.raises(FileAccessFailed, match="Not a regular file"):
        await node.download(kernel, ["pipe"])
    (archive,) = await node.download(kernel, ["."])
    assert "work/pipe" not in members(archive)


async def test_missing_and_wrong_kinds(node: Node, kernel: uuid.UUID) -> None:
    await node.upload(kernel, [("f.txt", b"x"), ("d/g.txt", b"y")])
    with pytest.raises(FileMissing, match="The file is not found."):
        await node.download(kernel, ["nope.txt"])
    with pytest.raises(FileMissing, match="The file is not found."):
        await node.download(kernel, ["nodir/nope.txt"])
    with pytest.raises(FileMissing, match="No such file or directory."):
        await node.list_files(kernel, "nope")
    with pytest.raises(NotADirectory):
        await node.list_files(kernel, "f.txt")
    with pytest.raises(NotADirectory):
        await node.upload(kernel, [("f.txt/inner", b"z")])
    with pytest.raises(IsADirectory):
        await node.upload(kernel, [("d", b"z")])
    with pytest.raises(IsADirectory):
        await node.upload(kernel, [("/home/work", b"z")])


async def test_size_limits(node: Node, kernel: uuid.UUID) -> None:
    with pytest.raises(FileTooLarge, match="Too large file"):
        await node.upload(kernel, [("ok.txt", b"x"), ("big.bin", b"x" * 1001)])
    assert not (scratch(node, kernel) / "ok.txt").exists()  # checked before writing
    for index in range(6):
        await node.upload(kernel, [(f"many/{index}.bin", b"x" * 1000)])
    with pytest.raises(FileTooLarge, match="Too large file"):
        await node.download(kernel, ["many"])


async def test_upload_checks_every_path_before_writing(node: Node, kernel: uuid.UUID) -> None:
    with pytest.raises(PathEscapes):
        await node.upload(kernel, [("first.txt", b"x"), ("../second.txt", b"y")])
    assert not (scratch(node, kernel) / "first.txt").exists()


async def test_output_files(node: Node, kernel: uuid.UUID) -> None:
    assert await node.output_files(kernel) == []
    await node.upload(kernel, [(".output/b.png", b"b"), (".output/plots/a.csv", b"a")])
    (scratch(node, kernel) / ".output" / "link").symlink_to("/etc/passwd")
    assert await node.output_files(kernel) == ["b.png", "plots/a.csv"]


async def test_output_dir_leading_outside_lists_nothing(node: Node, kernel: uuid.UUID) -> None:
    (scratch(node, kernel) / ".output").symlink_to("/etc")
    assert await node.output_files(kernel) == []


async def test_file_operations_need_a_live_kernel(node: Node) -> None:
    ghost = uuid.uuid4()
    with pytest.raises(UnknownKernel):
        await node.upload(ghost, [("a", b"")])
    with pytest.raises(UnknownKernel):
        await node.download(ghost, ["a"])
    with pytest.raises(UnknownKernel):
        await node.list_files(ghost, ".")
    with pytest.raises(UnknownKernel):
        await node.output_files(ghost)


def _relative(target: Path, start: Path) -> str:
    return os.path.relpath(target, start)
