"""Apply image layers (tar streams) to a root file system directory, refusing escapes.

Every member's path is resolved inside the root, component by component, with symlinks
interpreted as the sandbox will see them (an absolute target starts at the root). Refused
with :class:`UnsafeLayer`: absolute member names, ``..`` components, symlinks whose relative
target climbs out of the root, hard links to anything but a regular file inside it, and a
path that would have to leave the root. Whiteouts (``.wh.NAME``) delete what lower layers
put there; opaque markers (``.wh..wh..opq``) empty a directory of lower layers' entries.

Devices and fifos are skipped, extended attributes are not applied, setuid/setgid bits are
cleared; files owned by uid 0 stay the agent's, any other owner becomes the sandbox user.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import zstandard

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_LINKS = 40
BUFFER = 1024 * 1024


class UnsafeLayer(ValueError):
    """A layer that tries to write outside the root file system."""


@dataclass(frozen=True, slots=True)
class Owner:
    """Who owns unpacked files: None leaves them the agent's (a non-root agent cannot chown)."""

    uid: int | None = None
    gid: int | None = None


@dataclass
class UnpackReport:
    entries: int = 0
    skipped: list[str] = field(default_factory=list)  # devices, fifos, unknown types


@contextmanager
def open_layer(path: Path, compression: str) -> Iterator[IO[bytes]]:
    """The layer blob decompressed as a stream (gzip, zstd or none)."""
    with path.open("rb") as raw:
        if compression == "gzip":
            with gzip.GzipFile(fileobj=raw) as stream:
                yield cast(IO[bytes], stream)
        elif compression == "zstd":
            with zstandard.ZstdDecompressor().stream_reader(raw, read_size=BUFFER) as stream:
                yield stream
        else:
            yield raw


def member_parts(name: str) -> tuple[str, ...]:
    """A member name's components ('.' dropped). Raises UnsafeLayer."""
    if name.startswith("/"):
        raise UnsafeLayer(f"absolute path in layer: {name!r}")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeLayer(f"path climbing out of the image in layer: {name!r}")
    return parts


class Root:
    """A root file system being written; every path resolved inside it."""

    def __init__(self, path: Path, owner: Owner) -> None:
        self.path, self.owner = path, owner

    def resolve(self, parts: tuple[str, ...], *, create: bool = True) -> Path:
        """The host path of the directory ``parts`` names, following symlinks inside the
        root (creating missing directories). Raises UnsafeLayer."""
        current: list[str] = []
        pending = list(parts)
        links = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if not current:
                    raise UnsafeLayer(f"a symlink leads out of the image: {'/'.join(parts)}")
                current.pop()
                continue
            host = self.path.joinpath(*current, part)
            if host.is_symlink():
                links += 1
                if links > MAX_LINKS:
                    raise UnsafeLayer(f"too many symlinks under {'/'.join(parts)}")
                target = os.readlink(host)
                if target.startswith("/"):
                    current = []
                pending[:0] = [p for p in target.split("/") if p not in ("", ".")]
                continue
            if not host.exists() and create:
                host.mkdir(mode=0o755)
            elif not host.is_dir():
                raise UnsafeLayer(f"not a directory in the image: {'/'.join(parts)}")
            current.append(part)
        return self.path.joinpath(*current)

    def check_link_target(self, parts: tuple[str, ...], target: str) -> None:
        """A relative symlink target must stay inside the root, seen from its location."""
        if target.startswith("/"):
            return
        depth = len(parts) - 1
        for piece in target.split("/"):
            depth += -1 if piece == ".." else (0 if piece in ("", ".") else 1)
            if depth < 0:
                raise UnsafeLayer(f"symlink {'/'.join(parts)} -> {target} points out of the image")

    def chown(self, path: Path, member: tarfile.TarInfo) -> None:
        if self.owner.uid is None or member.uid == 0:
            return
        os.lchown(path, self.owner.uid, self.owner.gid if self.owner.gid is not None else -1)


def _remove(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = tar.extractfile(member)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "wb") as out:
        if source is not None:
            shutil.copyfileobj(source, out, BUFFER)
    os.chmod(target, member.mode & 0o1777)
    os.utime(target, (member.mtime, member.mtime))


def _apply_member(root: Root, tar: tarfile.TarFile, member: tarfile.TarInfo,
                  parts: tuple[str, ...], report: UnpackReport) -> None:  # fmt: skip
    parent = root.resolve(parts[:-1])
    target = parent / parts[-1]
    if member.isdir():
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            _remove(target)
        target.mkdir(mode=0o755, exist_ok=True)
        os.chmod(target, member.mode & 0o1777)
    elif member.isreg():
        _remove(target)
        _write_file(tar, member, target)
    elif member.issym():
        root.check_link_target(parts, member.linkname)
        _remove(target)
        os.symlink(member.linkname, target)
    elif member.islnk():
        link = member_parts(member.linkname)
        source = root.resolve(link[:-1], create=False) / link[-1] if link else root.path
        if not os.path.lexists(source) or not stat.S_ISREG(os.lstat(source).st_mode):
            raise UnsafeLayer(f"hard link {member.name} -> {member.linkname}: no file to link")
        _remove(target)
        os.link(source, target, follow_symlinks=False)
    else:
        report.skipped.append(member.name)
        return
    root.chown(target, member)


def apply_layer(root: Root, stream: IO[bytes]) -> UnpackReport:
    """Apply one layer's tar stream to ``root``. Raises UnsafeLayer, tarfile.TarError."""
    report = UnpackReport()
    written: set[tuple[str, ...]] = set()
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            parts = member_parts(member.name)
            if not parts:
                continue
            report.entries += 1
            base = parts[-1]
            if base == OPAQUE:
                directory = root.resolve(parts[:-1])
                for child in os.listdir(directory):
                    if (*parts[:-1], child) not in written:
                        _remove(directory / child)
                continue
            if base.startswith(WHITEOUT):
                hidden = base[len(WHITEOUT) :]
                if hidden and hidden not in (".", ".."):
                    _remove(root.resolve(parts[:-1]) / hidden)
                continue
            _apply_member(root, tar, member, parts, report)
            written.add(parts)
    return report


def unpack_layers(target: Path, layers: list[tuple[Path, str]], owner: Owner) -> UnpackReport:
    """Build ``target`` from layer blobs (path, compression), lowest first, atomically: a
    failure leaves no ``target``. Raises UnsafeLayer, tarfile.TarError, OSError."""
    building = target.with_name(target.name + ".building")
    if building.exists():
        shutil.rmtree(building)
    building.mkdir(mode=0o755, parents=True)
    root = Root(building, owner)
    total = UnpackReport()
    try:
        for path, compression in layers:
            with open_layer(path, compression) as stream:
                report = apply_layer(root, stream)
            total.entries += report.entries
            total.skipped += report.skipped
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    building.rename(target)
    return total
