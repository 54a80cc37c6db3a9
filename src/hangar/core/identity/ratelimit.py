"""Per-key request budgets over a rolling window, kept in memory.

The window is approximated by two fixed windows weighted by overlap, the usual sliding-window
counter: O(1) memory per key, at most one window of burst error.
"""

from __future__ import annotations

from dataclasses import dataclass

from hangar.core.clock import Clock

WINDOW_SECONDS = 900.0  # the reference manager's 15-minute window


@dataclass(slots=True)
class _Counter:
    window: int
    current: int
    previous: int


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: float


class SlidingWindowLimiter:
    def __init__(self, clock: Clock, window_seconds: float = WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window_seconds
        self._counters: dict[str, _Counter] = {}

    def hit(self, key: str, limit: int) -> RateDecision:
        """Count one request for ``key`` if it fits in ``limit``; say whether it did."""
        now = self._clock.monotonic()
        window = int(now // self._window)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter(window, 0, 0)
        elif counter.window != window:
            counter.previous = counter.current if counter.window == window - 1 else 0
            counter.current = 0
            counter.window = window
        elapsed = (now % self._window) / self._window
        used = counter.previous * (1.0 - elapsed) + counter.current
        if used + 1 > limit:
            retry = self._window * (1.0 - elapsed) if counter.current >= limit else 1.0
            return RateDecision(False, limit, 0, retry)
        counter.current += 1
        return RateDecision(True, limit, max(0, int(limit - used - 1)), 0.0)

    def reset(self, key: str) -> None:
        self._counters.pop(key, None)
