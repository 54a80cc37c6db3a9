"""Scratch directories: prepare, measure, remove."""

from __future__ import annotations

import errno
from collections.abc import Iterable
from pathlib import Path

from hangar.agent.runtimes.base import HOME, KernelSpec
from hangar.util import fdtree


def home_mounts(spec: KernelSpec) -> list[str]:
    """Mount targets under /home/work, relative to it (mount points in the scratch dir)."""
    prefix = HOME + "/"
    return [m.target[len(prefix) :] for m in spec.mounts if m.target.startswith(prefix)]


def prepare_scratch(path: Path, owner: tuple[int, int] | None, subdirs: Iterable[str] = ()) -> None:
    """Create ``path`` (kept with its content if it exists) and ``subdirs`` inside it (mount
    points), owned by ``owner`` (uid, gid) when given. Parents are made private (0700).

    A kept scratch dir was written by sandboxed code, so the mount points are made through
    directory descriptors, never by following a path it may have swapped. Raises OSError."""
    for parent in reversed(path.parents):
        if not parent.exists():
            parent.mkdir(mode=0o700)
    path.mkdir(mode=0o750, exist_ok=True)
    for target in (".", *subdirs):
        try:
            fdtree.make_dirs(path, target, mode=0o750, owner=owner)
        except fdtree.TreeError as exc:
            raise OSError(errno.ENOTDIR, f"Cannot prepare the scratch dir: {exc}") from None


def scratch_size(path: Path) -> int:
    """Apparent size in bytes of the regular files under ``path`` (0 if it is gone)."""
    return fdtree.measure(path).bytes


def remove_tree(path: Path) -> None:
    """Delete ``path`` even where sandboxed code removed its own permissions or swaps
    directories for links meanwhile. Idempotent. Raises OSError."""
    try:
        fdtree.remove_tree(path)
    except fdtree.TreeError as exc:
        raise OSError(errno.EIO, str(exc)) from None
