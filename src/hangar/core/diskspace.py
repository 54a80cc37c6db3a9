"""The data dir's free-space reserve: new sessions and uploads are refused before the file
system that holds the database fills up, so the server's own files always have room."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hangar.core.errors import DiskFull


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on ``path``'s file system."""
    fs = os.statvfs(path)
    return fs.f_bavail * fs.f_frsize


def _size(amount: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if amount >= scale:
            return f"{amount / scale:.1f} {unit}"
    return f"{amount} bytes"


@dataclass(frozen=True, slots=True)
class DiskReserve:
    """Keeps ``reserve`` bytes free on ``path``'s file system (0: no check)."""

    path: Path
    reserve: int
    free: Callable[[Path], int] = free_bytes

    def check(self, what: str, incoming: int = 0) -> None:
        """Raise DiskFull when fewer than ``reserve`` bytes would stay free after
        ``incoming`` more; ``what`` names what is refused ("new sessions", "this upload")."""
        if self.reserve <= 0:
            return
        try:
            free = self.free(self.path)
        except OSError:
            return  # the data dir is unreadable: other checks report that, not this one
        if free - max(incoming, 0) < self.reserve:
            raise DiskFull(
                f"The server's disk is almost full ({_size(free)} free on the file system of "
                f"its data dir, {_size(self.reserve)} kept in reserve for the database): "
                f"{what} are refused until an administrator frees space."
            )
