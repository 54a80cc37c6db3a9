"""Removing a scratch disk's mount point without breaking sandboxes being built.

Each sandbox starts with a copy of the host's mounts, a disk's among them. Removing the mount
point's directory detaches those copies (so no sandbox keeps a destroyed disk's space), but a
bwrap (0.8) that is building a sandbox at that moment lists the mounts, then remounts each
read-only, and fails on one that vanished in between ("Unable to apply mount flags"). So the
directory goes at a moment no bwrap this agent started is in that phase: none is a leaf (a
bwrap whose sandbox's init, or payload, has not started yet).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

QUIET_WAIT = 0.5  # seconds at most; then the directory goes anyway
# Each look walks this process's descendants in /proc: look again after 2 ms, then twice as
# long each time up to 40 ms (a sandbox's setup takes some 5-30 ms; nobody waits on this).
FIRST_POLL = 0.002
MAX_POLL = 0.04


def _children(proc: Path, pid: int) -> list[int]:
    found: list[int] = []
    for task in (proc / str(pid) / "task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def sandboxes_in_setup(proc: Path = Path("/proc"), root: int | None = None) -> bool:
    """Whether a bwrap this process started (directly or not) has no child yet: it is
    still building its sandbox. Only this process's descendants are read (cheap)."""
    stack = _children(proc, os.getpid() if root is None else root)
    while stack:
        pid = stack.pop()
        children = _children(proc, pid)
        try:
            comm = (proc / str(pid) / "comm").read_text().strip()
        except OSError:
            continue
        if comm == "bwrap" and not children:
            return True
        stack += children
    return False


def wait_quiet(wait: float = QUIET_WAIT) -> None:
    """Wait until no sandbox is being built (at most ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    poll = FIRST_POLL
    while (left := deadline - time.monotonic()) > 0 and sandboxes_in_setup():
        time.sleep(min(poll, left))
        poll = min(poll * 2, MAX_POLL)


def remove_mount_point(path: Path, wait: float = QUIET_WAIT) -> None:
    """Remove the empty directory ``path`` once no sandbox is being built (or after
    ``wait`` seconds). Missing is fine. Raises OSError (not empty, still a mount point)."""
    wait_quiet(wait)
    if path.is_dir():
        path.rmdir()
