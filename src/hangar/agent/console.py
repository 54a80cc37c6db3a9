"""A kernel's console log: bootstrap, batch and query output, kept as its last ~1 MiB of text.

The file outlives the kernel (``logs`` works after destroy). Appends are small synchronous
writes; once the file grows half again past the cap it is rewritten with its tail.
"""

from __future__ import annotations

import os
from pathlib import Path

from hangar.agent.models import RunOutput

DEFAULT_MAX_BYTES = 1 << 20


def _tail(data: bytes, limit: int) -> bytes:
    """The last ``limit`` bytes of ``data``, not starting inside a UTF-8 sequence."""
    tail = data[-limit:] if len(data) > limit else data
    start = 0
    while start < len(tail) and start < 4 and 0x80 <= tail[start] <= 0xBF:
        start += 1
    return tail[start:]


class ConsoleLog:
    """The console log file of one kernel at ``path``, capped to ``max_bytes`` (about)."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path, self.max_bytes = path, max_bytes

    def reset(self) -> None:
        """Start an empty log (a new kernel), creating the directory if needed."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        os.close(fd)

    def append(self, text: str) -> None:
        """Add ``text``; trims the file to its tail when it grew past 1.5x the cap."""
        if not text:
            return
        data = text.encode(errors="replace")
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        fd = os.open(self.path, flags, 0o600)
        try:
            os.write(fd, data)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > self.max_bytes + self.max_bytes // 2:
            self._trim()

    def record(self, output: RunOutput) -> None:
        """Append a run's record: console text as it is, a note for a timeout."""
        if output.kind in ("stdout", "stderr"):
            self.append(output.text)
        elif output.kind == "exec-timeout":
            self.append("\n[hangar] execution time limit exceeded; the run was killed\n")

    def _trim(self) -> None:
        kept = _tail(self.path.read_bytes(), self.max_bytes)
        temporary = self.path.with_name(f".{self.path.name}.trim")
        temporary.write_bytes(kept)
        temporary.replace(self.path)

    def read(self) -> str:
        """The last ``max_bytes`` of the log as text ("" when there is none)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return ""
        return _tail(data, self.max_bytes).decode(errors="replace")

    def exists(self) -> bool:
        """True once the log file was created."""
        return self.path.is_file()
