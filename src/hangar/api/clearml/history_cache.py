"""Whole scalar histories kept as the JSON text the face sends (``get_scalar_metric_data``
with ``no_scroll``): a long history is read far more often than it changes (the web app
and scripts poll it), and reading and writing 100k points back costs more than sending them.

An entry is keyed by the series and its stamp, which every write to the series changes in
the database, so an entry is never served once the series has changed, whichever server
process wrote it. Entries go least recently used first past a byte budget.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from hangar.api.clearml.compress import Deflated

MIN_POINTS = 10_000  # shorter histories are cheap to read again
BUDGET_BYTES = 96 << 20  # about five 100k-point histories


@dataclass(slots=True)
class Kept:
    text: bytes  # the events, comma-separated, no brackets
    points: int
    _deflated: Deflated | None = None

    def deflated(self) -> Deflated:
        """The text deflated, made once: gzipped answers splice it in."""
        if self._deflated is None:
            self._deflated = Deflated.of(self.text)
        return self._deflated

    @property
    def ready(self) -> bool:
        """Whether the deflated form is made (a gzipped answer may splice it in)."""
        return self._deflated is not None


class HistoryCache:
    def __init__(self, budget: int = BUDGET_BYTES) -> None:
        self.budget = budget
        self._kept: OrderedDict[tuple[int, int, bool], Kept] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[int, int, bool]) -> Kept | None:
        """What is kept for (series id, stamp, descending)."""
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
        return found

    def put(self, key: tuple[int, int, bool], kept: Kept) -> None:
        """Keep ``kept`` (not when too short, too big, or of a never-written series)."""
        sid, stamp, _ = key
        if stamp == 0 or kept.points < MIN_POINTS or len(kept.text) > self.budget:
            return
        for old in [k for k in self._kept if k[0] == sid and k[1] != stamp]:  # outdated
            self._bytes -= len(self._kept.pop(old).text)
        if key in self._kept:
            self._bytes -= len(self._kept.pop(key).text)
        self._kept[key] = kept
        self._bytes += len(kept.text)
        while self._bytes > self.budget:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= len(dropped.text)
