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

A leaf module (it imports nothing of hangar) so that the agent and the core share it.
:class:`TreeError` messages name paths relative to the tree, never host paths. Every
function blocks; call them in a thread.
"""

from __future__ import annotations

import errno
import itertools
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
MODE_BITS = 0o777  # setuid, setgid and sticky bits are never copied
COPY_CHUNK = 1 << 24
REMOVE_RETRIES = 10
_moves = itertools.count()

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


def _rel(*parts: str) -> str:
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


# Measuring -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Level:
    """A directory being walked: its descriptor, its name in its parent, its path as
    messages show it, the subdirectories left."""

    fd: int
    name: str
    rel: str = ""
    pending: list[str] = field(default_factory=list)


def measure(path: StrPath) -> TreeUsage:
    """What lies below the directory ``path``; zero when it is gone. Best effort: entries
    that vanish or cannot be opened while counting are skipped, as are levels deeper than
    MAX_DEPTH."""
    try:
        root = open_root(path)
    except OSError:
        return TreeUsage(0, 0)
    usage = [0, 0]
    stack = [_Level(root, "")]
    try:
        _count(stack[-1], usage)
        while stack:
            level = stack[-1]
            if not level.pending:
                os.close(stack.pop().fd)
                continue
            try:
                child = open_subdir(level.fd, level.pending.pop())
            except OSError:
                continue
            if child is not None:
                stack.append(_Level(child, ""))
                _count(stack[-1], usage)
                if len(stack) > MAX_DEPTH:
                    stack[-1].pending.clear()
    finally:
        for level in stack:
            os.close(level.fd)
    return TreeUsage(usage[0], usage[1])


def _count(level: _Level, usage: list[int]) -> None:
    try:
        with os.scandir(level.fd) as entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    level.pending.append(entry.name)
                    continue
                usage[0] += 1
                if stat.S_ISREG(st.st_mode):
                    usage[1] += st.st_size
    except OSError:
        return


# Removing --------------------------------------------------------------------------------


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
    stack = [_Level(top, name, shown)]
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
                stack.append(_Level(again, level.name, level.rel))
                _empty_files(stack[-1])
    finally:
        for level in stack:
            os.close(level.fd)


def _empty_files(level: _Level) -> None:
    """Unlink the entries of ``level`` that are not directories; remember the others."""
    try:
        names = os.listdir(level.fd)
    except OSError as exc:
        raise TreeError(f"Cannot list {level.rel}: {exc.strerror}") from None
    for name in names:
        if _unlink(level.fd, name, _rel(level.rel, name), directory_ok=True):
            level.pending.append(name)


def _descend(stack: list[_Level], name: str) -> None:
    here, top = stack[-1], stack[0]
    rel = _rel(here.rel, name)
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
    stack.append(_Level(child, name, rel))
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


# Copying ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pair:
    """A directory being copied: both descriptors, its path below the roots, its status."""

    src: int
    dst: int
    rel: str
    st: os.stat_result
    pending: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Copy:
    owner: Owner
    progress: Progress | None
    copied: int = 0


def copy_tree(
    src: StrPath, dst: StrPath, *, owner: Owner = None, progress: Progress | None = None
) -> int:
    """Copy what lies below the directory ``src`` into the existing directory ``dst``;
    returns the bytes copied.

    Directories and regular files are copied with their permission bits (never setuid,
    setgid or sticky) and times, owned by ``owner`` when given (else by this process);
    symlinks, FIFOs, sockets and devices are left out, as is an entry that stops being
    what it was during the copy. ``dst`` itself keeps its mode and owner. ``progress``
    gets the bytes copied so far. Raises TreeError, naming entries relative to the roots.
    """
    job = _Copy(owner, progress)
    try:
        src_fd = open_root(src)
    except OSError as exc:
        raise TreeError(f"Cannot open the source folder: {exc.strerror}") from None
    try:
        dst_fd = open_root(dst)
    except OSError as exc:
        os.close(src_fd)
        raise TreeError(f"Cannot open the target folder: {exc.strerror}") from None
    stack: list[_Pair] = []
    try:
        stack.append(_Pair(src_fd, dst_fd, "", os.fstat(src_fd)))
        _copy_files(stack[-1], job)
        while stack:
            pair = stack[-1]
            if pair.pending:
                _enter(stack, pair.pending.pop(), job)
                continue
            stack.pop()
            with opened(pair.src), opened(pair.dst):
                if stack:  # the target root keeps what its creator gave it
                    _finish(pair.dst, pair.st, job.owner, pair.rel)
    except BaseException:
        for pair in stack:
            os.close(pair.src)
            os.close(pair.dst)
        raise
    return job.copied


def _enter(stack: list[_Pair], name: str, job: _Copy) -> None:
    """Start copying the subdirectory ``name`` of the top pair (skipped if it was swapped)."""
    here = stack[-1]
    rel = _rel(here.rel, name)
    if len(stack) > MAX_DEPTH:
        raise TreeError(f"Cannot copy {rel}: more than {MAX_DEPTH} directories deep")
    try:
        src = open_subdir(here.src, name)
    except OSError as exc:
        raise TreeError(f"Cannot copy {rel}: {exc.strerror}") from None
    if src is None:
        return
    try:
        os.mkdir(name, 0o700, dir_fd=here.dst)
        dst = os.open(name, DIR_FLAGS, dir_fd=here.dst)
    except OSError as exc:
        os.close(src)
        raise TreeError(f"Cannot copy {rel}: {exc.strerror}") from None
    stack.append(_Pair(src, dst, rel, os.fstat(src)))
    _copy_files(stack[-1], job)


def _copy_files(pair: _Pair, job: _Copy) -> None:
    """Copy the regular files of ``pair``; remember its subdirectories."""
    try:
        with os.scandir(pair.src) as scan:
            entries = [(e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
                       for e in scan]  # fmt: skip
    except OSError as exc:
        raise TreeError(f"Cannot list {_rel(pair.rel)}: {exc.strerror}") from None
    for name, is_dir, is_file in entries:
        if is_dir:
            pair.pending.append(name)
        elif is_file:
            _copy_file(pair, name, job)


def _copy_file(pair: _Pair, name: str, job: _Copy) -> None:
    rel = _rel(pair.rel, name)
    try:
        source = open_regular(pair.src, name)
        if source is None:
            return
        fd, st = source
        with opened(fd), opened(os.open(name, NEW_FILE_FLAGS, 0o600, dir_fd=pair.dst)) as out:
            offset = 0
            while offset < st.st_size:
                sent = os.sendfile(out, fd, offset, min(COPY_CHUNK, st.st_size - offset))
                if not sent:
                    break
                offset += sent
                job.copied += sent
                if job.progress is not None:
                    job.progress(job.copied)
            _finish(out, st, job.owner, rel)
    except OSError as exc:
        raise TreeError(f"Cannot copy {rel}: {exc.strerror}") from None


def _finish(fd: int, st: os.stat_result, owner: Owner, rel: str) -> None:
    """Give the copy at ``fd`` the source's permission bits and times, and ``owner``."""
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & MODE_BITS)
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    except OSError as exc:
        raise TreeError(f"Cannot copy {rel}: {exc.strerror}") from None


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
                raise TreeError(f"Cannot create {_rel(*parts[:depth])}: not a directory")
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
