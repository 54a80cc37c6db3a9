"""One data dir, one server: an exclusive lock on the data dir held for the server's life.

A second server on the same data dir would restart the first one's sessions on the same
scratch dirs, repoint the client config and delete the sessions' cgroups on exit.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "server.lock"


class DataDirBusy(Exception):
    """Another process holds the data dir; the message is one line for the user."""


class DataDirLock:
    """The held lock: a flock on ``<data_dir>/server.lock``, which names the holder's pid.

    The descriptor is close-on-exec, so sessions' processes never inherit the lock; the
    kernel drops it when the holder exits, however it exits.
    """

    def __init__(self, fd: int, path: Path) -> None:
        self._fd = fd
        self.path = path

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Create the data dir if needed and lock it; raises DataDirBusy when held."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / LOCK_NAME
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(path, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DataDirBusy(
                f"the data dir {data_dir} is in use by {holder}; stop it or set "
                "HANGAR_DATA_DIR to another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        """Idempotent: the file stays (a later server truncates it)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it (it may not have written it yet)."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    if text.isdigit():
        return f"hangar server process {text}"
    return "another hangar server process"
