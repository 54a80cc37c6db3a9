"""A worker's output cut into log lines, each with the time it came and its byte offset in
the worker's stream (offsets only grow, across restarts of the init command too)."""

from __future__ import annotations

from datetime import datetime

from hangar.core.endpoints.models import LogEntry

MAX_LINE = 16 * 1024  # a longer line without a newline is cut here
MAX_LINES_KEPT = 20_000  # per worker; older lines go (the runner trims)


class LogBuffer:
    def __init__(self, offset: int) -> None:
        self.offset = offset  # the stream's bytes logged so far (complete lines)
        self._partial = ""

    def feed(self, text: str, now: datetime) -> list[LogEntry]:
        """The complete lines ``text`` finishes (with the partial line before it)."""
        self._partial += text
        entries = []
        while True:
            line, sep, rest = self._partial.partition("\n")
            if not sep:
                if len(self._partial) < MAX_LINE:
                    break
                line, rest = self._partial[:MAX_LINE], self._partial[MAX_LINE:]
            entries.append(self._entry(line, now, len(line.encode()) + len(sep)))
            self._partial = rest
        return entries

    def flush(self, now: datetime) -> list[LogEntry]:
        """The partial line left (at the end of a run)."""
        if not self._partial:
            return []
        line, self._partial = self._partial, ""
        return [self._entry(line, now, len(line.encode()))]

    def note(self, text: str, now: datetime) -> LogEntry:
        """A line of Hangar's own (``[hangar] ...``) in the worker's log."""
        return self._entry(f"[hangar] {text}", now, 0)

    def _entry(self, line: str, now: datetime, size: int) -> LogEntry:
        entry = LogEntry(now, self.offset, line.rstrip("\r"))
        self.offset += max(size, 1)  # a note takes one position so offsets stay unique
        return entry
