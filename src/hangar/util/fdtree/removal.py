"""Removing a tree a tenant can write (see :mod:`hangar.util.fdtree`)."""

from __future__ import annotations

import errno
import itertools
import os
import stat
from collections.abc import Callable

from hangar.util.fdtree.base import (
    MAX_DEPTH,
    Level,
    StrPath,
    TreeError,
    open_subdir,
    opened,
    rel_path,
)

REMOVE_RETRIES = 10
_moves = itertools.count()


def remove_tree(path: StrPath) -> None:
    """Delete ``path`` with everything below it (a symlink or file at ``path`` is unlinked,
    never followed), even where sandboxed code took away its own permissions. Idempotent.
    Raises TreeError (naming entries relative to ``path``)."""
    parent, name = os.path.split(os.fspath(path).rstrip("/"))
    try:
        parent_fd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    with opened(parent_fd):
        remove_at(parent_fd, name, shown=".")


def remove_at(dir_fd: int, name: str, *, shown: str | None = None) -> None:
    """Delete the entry ``name`` of the directory ``dir_fd`` with everything below it.
    Missing is fine. Raises TreeError, whose message calls the entry ``shown`` (default:
    ``name``)."""
    shown = name if shown is None else shown
    top = _open_or_unlink(dir_fd, name, shown)
    if top is None:
        return
    stack = [Level(top, name, shown)]
    retries = REMOVE_RETRIES
    try:
        _empty_files(stack[-1])
        while stack:
            level = stack[-1]
            if level.pending:
                _descend(stack, level.pending.pop())
                continue
            stack.pop()
            os.close(level.fd)
            again = _rmdir(stack[-1].fd if stack else dir_fd, level.name, level.rel)
            if again is not None:  # written to meanwhile: empty it again, a few times
                retries -= 1
                if retries < 0:
                    raise TreeError(f"Cannot delete {level.rel}: it keeps being written to")
                stack.append(Level(again, level.name, level.rel))
                _empty_files(stack[-1])
    finally:
        for level in stack:
            os.close(level.fd)


def _empty_files(level: Level) -> None:
    """Unlink the entries of ``level`` that are not directories; remember the others."""
    try:
        names = os.listdir(level.fd)
    except OSError as exc:
        raise TreeError(f"Cannot list {level.rel}: {exc.strerror}") from None
    for name in names:
        if _unlink(level.fd, name, rel_path(level.rel, name), directory_ok=True):
            level.pending.append(name)


def _descend(stack: list[Level], name: str) -> None:
    here, top = stack[-1], stack[0]
    rel = rel_path(here.rel, name)
    if len(stack) >= MAX_DEPTH:  # move the deep directory up, so few descriptors stay open
        moved = f".hangar-removing-{os.getpid()}-{next(_moves)}"
        try:
            os.rename(name, moved, src_dir_fd=here.fd, dst_dir_fd=top.fd)
        except OSError as exc:
            raise TreeError(f"Cannot delete {rel}: {exc.strerror}") from None
        top.pending.append(moved)
        return
    child = _open_or_unlink(here.fd, name, rel)
    if child is None:
        return
    stack.append(Level(child, name, rel))
    _empty_files(stack[-1])


def _rmdir(dir_fd: int, name: str, rel: str) -> int | None:
    """Remove the empty directory ``name``; if it is not empty (any more), its descriptor
    to empty it again. A non-directory found there instead is unlinked."""
    try:
        _retry_writable(dir_fd, lambda: os.rmdir(name, dir_fd=dir_fd))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.ENOTDIR, errno.ENOTEMPTY):
            raise TreeError(f"Cannot delete {rel}: {exc.strerror}") from None
        return _open_or_unlink(dir_fd, name, rel)
    return None


def _open_or_unlink(dir_fd: int, name: str, rel: str) -> int | None:
    """The directory ``name`` opened for removal, or None once the non-directory there is
    unlinked (or gone); tried again while sandboxed code swaps one for the other."""
    for _ in range(REMOVE_RETRIES):
        child = _open_for_removal(dir_fd, name, rel)
        if child is not None:
            return child
        if not _unlink(dir_fd, name, rel, directory_ok=True):
            return None
    raise TreeError(f"Cannot delete {rel}: it keeps being swapped")


def _unlink(dir_fd: int, name: str, rel: str, *, directory_ok: bool = False) -> bool:
    """Unlink a non-directory; True when ``name`` is a directory (and ``directory_ok``)."""
    try:
        _retry_writable(dir_fd, lambda: os.unlink(name, dir_fd=dir_fd))
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        if directory_ok:
            return True
        raise TreeError(f"Cannot delete {rel}: it became a directory") from None
    except OSError as exc:
        raise TreeError(f"Cannot delete {rel}: {exc.strerror}") from None
    return False


def _retry_writable(dir_fd: int, operation: Callable[[], None]) -> None:
    """Run ``operation`` on an entry of ``dir_fd``; if the directory's permissions refuse
    it (sandboxed code removed them, and this process is not root), restore and retry."""
    try:
        operation()
    except PermissionError:
        os.fchmod(dir_fd, stat.S_IRWXU)
        operation()


def _open_for_removal(dir_fd: int, name: str, rel: str) -> int | None:
    """Like :func:`open_subdir`, making a directory its owner cannot read readable first."""
    try:
        return open_subdir(dir_fd, name)
    except PermissionError:
        pass
    except OSError as exc:
        raise TreeError(f"Cannot delete {rel}: {exc.strerror}") from None
    try:
        handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    with opened(handle):
        if not stat.S_ISDIR(os.fstat(handle).st_mode):
            return None
        # /proc/self/fd names exactly the inode opened above, whatever the tree does now.
        own = f"/proc/self/fd/{handle}"
        try:
            os.chmod(own, stat.S_IRWXU)
            return os.open(own, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise TreeError(f"Cannot delete {rel}: {exc.strerror}") from None
