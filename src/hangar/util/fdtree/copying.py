"""Copying a tree a tenant can write (see :mod:`hangar.util.fdtree`)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from hangar.util.fdtree.base import (
    DIR_FLAGS,
    MAX_DEPTH,
    NEW_FILE_FLAGS,
    Owner,
    Progress,
    StrPath,
    TreeError,
    open_regular,
    open_root,
    open_subdir,
    opened,
    rel_path,
)

MODE_BITS = 0o777  # setuid, setgid and sticky bits are never copied
COPY_CHUNK = 1 << 24


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
    rel = rel_path(here.rel, name)
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
        raise TreeError(f"Cannot list {rel_path(pair.rel)}: {exc.strerror}") from None
    for name, is_dir, is_file in entries:
        if is_dir:
            pair.pending.append(name)
        elif is_file:
            _copy_file(pair, name, job)


def _copy_file(pair: _Pair, name: str, job: _Copy) -> None:
    rel = rel_path(pair.rel, name)
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
