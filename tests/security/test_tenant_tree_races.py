"""Code in a session swaps a directory of its folder (or scratch dir) with a symlink to a host
directory, over and over (``renameat2(RENAME_EXCHANGE)``), while the server clones, measures
or deletes that tree as root. Nothing outside the tree may be read, changed or removed.

The racer is a separate process, as the sandbox is; each race runs for a bounded number of
rounds. Against the path-based code these tests replace (``shutil.copytree`` and ``rmtree``
with a ``chmod`` error handler) the canary leaked or changed within a few rounds.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from hangar.agent.runtimes.scratch import remove_tree, scratch_size
from hangar.core.errors import StorageFailed
from hangar.core.storage.backends.local import LocalBackend
from hangar.util import fdtree

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux only")

ROUNDS = 40
SECRET = b"TOP SECRET " * 1117  # a size no file of the folder has
FILES = 20

# Exchanges ``a`` and ``b`` until killed; puts back whichever the server removed, as an
# attacker would, so the race goes on through the whole operation.
RACER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b, target = (os.fsencode(x) for x in sys.argv[1:4])
print("ready", flush=True)
while True:
    if libc.renameat2(-100, a, -100, b, 2) != 0:  # AT_FDCWD, RENAME_EXCHANGE
        for make in (lambda: os.mkdir(a), lambda: os.symlink(target, b)):
            try:
                make()
            except OSError:
                pass
"""


@dataclass(frozen=True)
class Canary:
    """Host directories outside the data dir: a private one (0700) holding a root-only file
    (0600) and a public one (0755) of root-owned files whose modes must not change."""

    private: Path
    public: Path

    def state(self) -> dict[str, tuple[int, int, bytes]]:
        """Mode, owner and content of every canary."""
        seen = {}
        for directory in (self.private, self.public):
            st = os.lstat(directory)
            seen[str(directory)] = (st.st_mode, st.st_uid, b"")
            for entry in sorted(directory.iterdir()):
                st = os.lstat(entry)
                seen[str(entry)] = (st.st_mode, st.st_uid, entry.read_bytes())
        return seen


@pytest.fixture
def canary(tmp_path: Path) -> Canary:
    outside = tmp_path / "outside"
    private, public = outside / "private", outside / "public"
    private.mkdir(mode=0o700, parents=True)
    (private / "secret").write_bytes(SECRET)
    (private / "secret").chmod(0o600)
    public.mkdir(mode=0o755)
    public.chmod(0o755)
    for n in range(FILES):
        (public / f"f{n}").write_bytes(b"host file")
        (public / f"f{n}").chmod(0o644)
    return Canary(private, public)


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend("local", tmp_path / "data", owner=(1000, 1000))


def plant(tree: Path, target: Path, *, mode: int = 0o644) -> None:
    """A directory ``swap`` of ordinary files and a symlink ``link`` to ``target``."""
    (tree / "swap").mkdir()
    for n in range(FILES):
        (tree / "swap" / f"f{n}").write_bytes(b"mine")
        (tree / "swap" / f"f{n}").chmod(mode)
    (tree / "link").symlink_to(target)


@contextmanager
def racing(tree: Path, target: Path) -> Iterator[None]:
    racer = subprocess.Popen(
        [sys.executable, "-c", RACER, str(tree / "swap"), str(tree / "link"), str(target)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert racer.stdout is not None and racer.stdout.readline() == "ready\n"
        yield
    finally:
        racer.kill()
        racer.wait()


def files_below(root: Path) -> dict[str, bytes]:
    found = {}
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                found[str(path.relative_to(root))] = path.read_bytes()
    return found


def assert_clear(failures: list[Exception], tmp_path: Path) -> None:
    """Failures are storage errors that name no host path."""
    for exc in failures:
        assert isinstance(exc, StorageFailed | OSError), repr(exc)
        assert str(tmp_path) not in str(exc), exc
        assert len(failures) < ROUNDS // 2  # most operations get through


async def test_clone_and_usage_never_read_through_a_swapped_link(
    backend: LocalBackend, canary: Canary, tmp_path: Path
) -> None:
    source = uuid.uuid4()
    await backend.create_folder(source)
    plant(backend.folder_dir(source), canary.private)
    before = canary.state()
    copied_swap = 0
    failures: list[Exception] = []
    with racing(backend.folder_dir(source), canary.private):
        for _ in range(ROUNDS):
            target = uuid.uuid4()
            try:
                await backend.clone_folder(source, target)
            except Exception as exc:  # the tree changed under the copy: fine, if it says so
                failures.append(exc)
            copied = files_below(backend.folder_dir(target))
            assert not any(name.endswith("secret") for name in copied), sorted(copied)
            assert not any(SECRET[:10] in data for data in copied.values())
            copied_swap += any(name.startswith(("swap/", "link/")) for name in copied)
            usage = await backend.usage(source)
            assert usage.used_bytes < len(SECRET)
            assert scratch_size(backend.folder_dir(source)) < len(SECRET)
            assert canary.state() == before
    assert copied_swap > 0  # the clones did copy the real directory
    assert_clear(failures, tmp_path)


async def test_clone_never_writes_through_a_swapped_link_in_the_target(
    backend: LocalBackend, canary: Canary, tmp_path: Path
) -> None:
    """The new folder can be mounted by a session while it is being filled."""
    source = uuid.uuid4()
    await backend.create_folder(source)
    plant(backend.folder_dir(source), canary.public, mode=0o4777)
    (backend.folder_dir(source) / "link").unlink()
    before = canary.state()
    failures: list[Exception] = []
    for _ in range(ROUNDS // 4):
        target = uuid.uuid4()
        await backend.create_folder(target)
        plant(backend.folder_dir(target), canary.public)
        with racing(backend.folder_dir(target), canary.public):
            try:
                await backend.clone_folder(source, target)
            except Exception as exc:
                failures.append(exc)
        assert canary.state() == before
    assert_clear(failures, tmp_path)


def _delete_folder(backend: LocalBackend, vfid: uuid.UUID) -> None:
    asyncio.run(backend.delete_folder(vfid))


def _delete_files(backend: LocalBackend, vfid: uuid.UUID) -> None:
    asyncio.run(backend.delete(vfid, ("tree",), recursive=True))


def _remove_scratch(backend: LocalBackend, vfid: uuid.UUID) -> None:
    remove_tree(backend.folder_dir(vfid))


Remover = Callable[[LocalBackend, uuid.UUID], None]


@pytest.mark.parametrize("remove", [_delete_folder, _delete_files, _remove_scratch])
def test_deletion_never_touches_a_swapped_link_target(
    backend: LocalBackend, canary: Canary, tmp_path: Path, remove: Remover
) -> None:
    before = canary.state()
    failures: list[Exception] = []
    for _ in range(ROUNDS // 2):
        vfid = uuid.uuid4()
        asyncio.run(backend.create_folder(vfid))
        tree = backend.folder_dir(vfid)
        if remove is _delete_files:
            tree = tree / "tree"
            tree.mkdir()
        plant(tree, canary.public)
        with racing(tree, canary.public):
            try:
                remove(backend, vfid)
            except Exception as exc:  # a writer that never stops may win: it must say so
                failures.append(exc)
        assert canary.state() == before
    assert_clear(failures, tmp_path)
    for exc in failures:
        assert "written to" in str(exc) or "swapped" in str(exc), exc


def test_removal_undoes_permissions_sandboxed_code_took_away() -> None:
    """Run as the work user, as a node without root runs: a tree whose own directories
    were made unreadable and unwritable is still deleted. ``hangar.util`` runs on its own
    beside an empty ``hangar`` (it is a leaf), with the system Python."""
    with tempfile.TemporaryDirectory(dir="/tmp") as temporary:
        base = Path(temporary)
        base.chmod(0o755)
        (base / "hangar").mkdir()
        (base / "hangar" / "__init__.py").write_text("")
        util = Path(fdtree.__file__).parent.parent  # hangar.util imports nothing of hangar
        shutil.copytree(
            util, base / "hangar" / "util", ignore=shutil.ignore_patterns("__pycache__")
        )
        tree = base / "scratch"
        (tree / "a" / "b").mkdir(parents=True)
        (tree / "a" / "b" / "f").write_text("x")
        for path in (tree, *tree.rglob("*")):
            os.chown(path, 1000, 1000)
        script = (
            "import os, sys\n"
            f"sys.path.insert(0, {temporary!r})\n"
            "from hangar.util import fdtree\n"
            f"os.chmod({str(tree / 'a' / 'b')!r}, 0)\n"
            f"os.chmod({str(tree / 'a')!r}, 0o500)\n"
            f"fdtree.remove_tree({str(tree / 'a')!r})\n"
            f"print(os.listdir({str(tree)!r}))\n"
        )
        done = subprocess.run(
            ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "/usr/bin/python3",
             "-S", "-c", script],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip() == "[]"
