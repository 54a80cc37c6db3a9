"""Trees a tenant can write, handled through directory descriptors only.

Scratch dirs and folders are writable by code in sessions, which may swap a directory for a
symlink at any moment (``renameat2(RENAME_EXCHANGE)`` in a loop) while the server works on
the tree as root. A path string is resolved by the kernel again at every call, so whatever
was checked about it is stale by the next call. Everything here therefore opens each
directory relative to its already open parent with ``O_NOFOLLOW | O_DIRECTORY`` and acts on
open descriptors (``fchmod``, ``fchown``, ``futimens``, ``unlinkat``, ``mkdirat``): a swap
makes an operation skip an entry or fail, never reach outside the tree. Symlinks are never
followed; FIFOs, sockets and devices are never read.

The only path strings taken are the roots of trees, which the server made in directories no
tenant can write; their last component is opened with ``O_NOFOLLOW`` too.

The package is a leaf (it imports nothing else of hangar): the agent and the core share it.
:class:`TreeError` messages name paths relative to the tree, never host paths. Every
function blocks; call them in a thread.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# One descriptor per level is held while walking; deeper levels are not copied or measured
# (removal moves them up instead, so any depth can be deleted).
MAX_DEPTH = 256

Owner = tuple[int, int] | None
Progress = Callable[[int], None]
StrPath = str | os.PathLike[str]


class TreeError(Exception):
    """An operation on a tree failed; the message names paths relative to the tree."""


@dataclass(frozen=True, slots=True)
class TreeUsage:
    """Entries that are not directories, and the apparent bytes of the regular files."""

    files: int
    bytes: int


def rel_path(*parts: str) -> str:
    return "/".join(p for p in parts if p not in ("", ".")) or "."


@contextmanager
def opened(fd: int) -> Iterator[int]:
    """Close ``fd`` on leaving the block."""
    try:
        yield fd
    finally:
        os.close(fd)


def open_root(path: StrPath) -> int:
    """An fd of the directory ``path``, whose last component must not be a symlink.

    Raises FileNotFoundError, NotADirectoryError, OSError (ELOOP for a symlink)."""
    return os.open(path, DIR_FLAGS)


def open_subdir(dir_fd: int, name: str) -> int | None:
    """The directory ``name`` of ``dir_fd``, opened without following a link; None when the
    entry is not a directory (a symlink, a file) or is gone. Raises OSError otherwise."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
            return None
        raise


def open_regular(dir_fd: int, name: str) -> tuple[int, os.stat_result] | None:
    """``name`` of ``dir_fd`` opened for reading with its status, when it is a regular file;
    None for anything else (a link is not followed, a FIFO never blocks). Raises OSError."""
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOENT, errno.ENXIO, errno.ENOTDIR):
            return None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd, st


@dataclass(slots=True)
class Level:
    """A directory being walked: its descriptor, its name in its parent, its path as
    messages show it, the subdirectories left."""

    fd: int
    name: str
    rel: str = ""
    pending: list[str] = field(default_factory=list)
    listed: bool = False


# Walking ---------------------------------------------------------------------------------


Entries = list[tuple[str, os.stat_result]]


def walk(dir_fd: int, name: str = ".") -> Iterator[tuple[str, int, list[str], Entries]]:
    """Top-down through the directory ``name`` of ``dir_fd``: per directory, its path
    relative to ``name`` (``.`` first), a descriptor of it (valid until the next step), its
    subdirectories' names and its other entries with their ``lstat``, both sorted by name.

    Links are never followed (they are among the other entries); entries that vanish or
    cannot be opened are skipped, and so are levels deeper than MAX_DEPTH. Nothing is
    yielded when ``name`` is not a directory."""
    try:
        root = open_subdir(dir_fd, name)
    except OSError:
        return
    if root is None:
        return
    stack = [Level(root, ".", ".")]
    try:
        while stack:
            level = stack[-1]
            if not level.listed:
                subdirs, others = _list(level.fd)
                level.listed, level.pending = True, subdirs[::-1]
                yield level.rel, level.fd, subdirs, others
                if len(stack) > MAX_DEPTH:
                    level.pending.clear()
            if not level.pending:
                os.close(stack.pop().fd)
                continue
            child_name = level.pending.pop()
            try:
                child = open_subdir(level.fd, child_name)
            except OSError:
                continue
            if child is not None:
                stack.append(Level(child, child_name, rel_path(level.rel, child_name)))
    finally:
        for level in stack:
            os.close(level.fd)


def _list(fd: int) -> tuple[list[str], Entries]:
    subdirs: list[str] = []
    others: Entries = []
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append(entry.name)
                else:
                    others.append((entry.name, st))
    except OSError:
        pass
    return sorted(subdirs), sorted(others, key=lambda pair: pair[0])


def measure(path: StrPath) -> TreeUsage:
    """What lies below the directory ``path`` (as :func:`walk` sees it); zero when it is
    gone."""
    try:
        root = open_root(path)
    except OSError:
        return TreeUsage(0, 0)
    files = size = 0
    with opened(root):
        for _rel, _fd, _subdirs, others in walk(root):
            files += len(others)
            size += sum(st.st_size for _name, st in others if stat.S_ISREG(st.st_mode))
    return TreeUsage(files, size)


# Creating --------------------------------------------------------------------------------


def make_dirs(root: StrPath, rel: str, *, mode: int, owner: Owner = None) -> None:
    """Create the directory ``rel`` (slash-separated, below the directory ``root``) with
    its missing parents, never through a link; the directories made and ``rel`` itself
    (``root`` for ``"."``) get ``owner``. Raises TreeError when a component exists and is
    not a directory."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise TreeError(f"Cannot create {rel}: it leads out of its tree")
    try:
        fd = open_root(root)
    except OSError as exc:
        raise TreeError(f"Cannot create {rel}: {exc.strerror}") from None
    try:
        for depth, name in enumerate(parts, 1):
            made = True
            try:
                os.mkdir(name, mode, dir_fd=fd)
            except FileExistsError:
                made = False
            child = open_subdir(fd, name)
            if child is None:
                raise TreeError(f"Cannot create {rel_path(*parts[:depth])}: not a directory")
            os.close(fd)
            fd = child
            if owner is not None and made:
                os.fchown(fd, *owner)
        if owner is not None:
            os.fchown(fd, *owner)
    except OSError as exc:
        raise TreeError(f"Cannot create {rel}: {exc.strerror}") from None
    finally:
        os.close(fd)


def chmod_files(path: StrPath, *, dir_mode: int, file_mode: int) -> None:
    """Set the mode of the directory ``path`` and of the regular files right in it (links
    and the rest untouched). Raises OSError."""
    with opened(open_root(path)) as fd:
        os.fchmod(fd, dir_mode)
        for name in os.listdir(fd):
            found = open_regular(fd, name)
            if found is not None:
                with opened(found[0]) as file_fd:
                    os.fchmod(file_fd, file_mode)
