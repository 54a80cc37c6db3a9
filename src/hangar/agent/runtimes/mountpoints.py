"""Removing a scratch disk's mount point without breaking sandboxes being built.

Each sandbox starts with a copy of the host's mounts, a disk's among them. Removing the mount
point's directory detaches those copies (so no sandbox keeps a destroyed disk's space), but a
bwrap (0.8) that is building a sandbox at that moment lists the mounts, then remounts each
read-only, and fails on one that vanished in between ("Unable to apply mount flags"). So the
directory goes at a moment no bwrap is in that phase: none is a leaf (a bwrap whose payload,
or whose sandbox's init, has not started yet).
"""

from __future__ import annotations

import time
from pathlib import Path

QUIET_WAIT = 0.5  # seconds at most; then the directory goes anyway
POLL = 0.002


def sandboxes_in_setup(proc: Path = Path("/proc")) -> bool:
    """Whether some bwrap process has no child yet (it is still building its sandbox)."""
    bwraps: set[int] = set()
    parents: set[int] = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        state, ppid = rest.split()[:2]
        parents.add(int(ppid))
        if comm == "bwrap" and state != "Z":
            bwraps.add(int(entry.name))
    return bool(bwraps - parents)


def remove_mount_point(path: Path, wait: float = QUIET_WAIT) -> None:
    """Remove the empty directory ``path`` once no sandbox is being built (or after
    ``wait`` seconds). Missing is fine. Raises OSError (not empty, still a mount point)."""
    deadline = time.monotonic() + wait
    while sandboxes_in_setup() and time.monotonic() < deadline:
        time.sleep(POLL)
    if path.is_dir():
        path.rmdir()
