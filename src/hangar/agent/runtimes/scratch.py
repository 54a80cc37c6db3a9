"""Scratch directories: prepare, measure, remove."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from hangar.agent.runtimes.base import HOME, KernelSpec


def home_mounts(spec: KernelSpec) -> list[str]:
    """Mount targets under /home/work, relative to it (mount points in the scratch dir)."""
    prefix = HOME + "/"
    return [m.target[len(prefix) :] for m in spec.mounts if m.target.startswith(prefix)]


def prepare_scratch(path: Path, owner: tuple[int, int] | None, subdirs: Iterable[str] = ()) -> None:
    """Create ``path`` (kept with its content if it exists) and ``subdirs`` inside it (mount
    points), owned by ``owner`` (uid, gid) when given. Parents are made private (0700)."""
    for parent in reversed(path.parents):
        if not parent.exists():
            parent.mkdir(mode=0o700)
    path.mkdir(mode=0o750, exist_ok=True)
    targets = [path, *(path / sub for sub in subdirs)]
    for target in targets:
        target.mkdir(mode=0o750, exist_ok=True, parents=True)
        if owner is not None:
            os.chown(target, *owner)


def scratch_size(path: Path) -> int:
    """Apparent size in bytes of the regular files under ``path`` (0 if it is gone)."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def remove_tree(path: Path) -> None:
    """Delete ``path`` even where sandboxed code removed its own permissions. Idempotent."""

    def make_writable_and_retry(func: object, failed: str, _exc: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, stat.S_IRWXU)
            shutil.rmtree(failed)
        else:
            os.unlink(failed)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=make_writable_and_retry)
    elif path.exists() or path.is_symlink():
        path.unlink()
