"""Being told on the event loop that files were written to (Linux inotify).

Processes that outlive the agent write their output into files (see :mod:`.detached`); the
agent reads them as they grow. With a watch it reads when they were written to, instead of
looking every few milliseconds: no delay for the first output, no work while nothing comes.
Where inotify is missing (or out of watches) :meth:`FileWatch.open` returns None and the
reader polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
from collections.abc import Callable, Sequence
from pathlib import Path

IN_MODIFY = 0x00000002
_libc = ctypes.CDLL(None, use_errno=True)


class FileWatch:
    """An inotify descriptor on the running loop; ``on_change`` runs (on the loop) after
    one or more writes to the watched files."""

    def __init__(self, fd: int, on_change: Callable[[], None]) -> None:
        self._fd, self._on_change = fd, on_change
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._ready)

    @classmethod
    def open(cls, paths: Sequence[Path], on_change: Callable[[], None]) -> FileWatch | None:
        """Watch ``paths`` (existing files; a watch follows a file that is renamed), or None
        where that is not possible here."""
        fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        for path in paths:
            if _libc.inotify_add_watch(fd, os.fsencode(path), IN_MODIFY) < 0:
                os.close(fd)
                return None
        return cls(fd, on_change)

    def _ready(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._fd, 4096):  # the events themselves say nothing more
                pass
        self._on_change()

    def close(self) -> None:
        """Stop watching. Idempotent."""
        if self._fd < 0:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
