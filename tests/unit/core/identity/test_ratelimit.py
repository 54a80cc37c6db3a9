from __future__ import annotations

from hangar.core.clock import FakeClock
from hangar.core.identity.ratelimit import SlidingWindowLimiter


def test_allows_up_to_the_limit_then_refuses() -> None:
    limiter = SlidingWindowLimiter(FakeClock(), window_seconds=60)
    decisions = [limiter.hit("AK", 3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after > 0


def test_keys_have_separate_budgets() -> None:
    limiter = SlidingWindowLimiter(FakeClock(), window_seconds=60)
    assert limiter.hit("A", 1).allowed
    assert not limiter.hit("A", 1).allowed
    assert limiter.hit("B", 1).allowed


def test_budget_returns_as_the_window_slides() -> None:
    clock = FakeClock()
    clock.advance(-(clock.monotonic() % 60))  # start at a window boundary
    limiter = SlidingWindowLimiter(clock, window_seconds=60)
    for _ in range(10):
        assert limiter.hit("A", 10).allowed
    assert not limiter.hit("A", 10).allowed
    clock.advance(90)  # halfway through the next window, the previous still counts half: 5
    allowed = sum(limiter.hit("A", 10).allowed for _ in range(10))
    assert allowed == 5
    clock.advance(120)  # two windows later everything is forgotten
    assert sum(limiter.hit("A", 10).allowed for _ in range(11)) == 10


def test_refused_requests_do_not_consume_budget() -> None:
    clock = FakeClock()
    clock.advance(-(clock.monotonic() % 60))
    limiter = SlidingWindowLimiter(clock, window_seconds=60)
    assert limiter.hit("A", 2).allowed and limiter.hit("A", 2).allowed
    clock.advance(60)  # next window: the previous one's 2 hits still weigh fully
    assert not any(limiter.hit("A", 2).allowed for _ in range(100))
    clock.advance(60)  # the 100 refusals of the last window must not count now
    assert limiter.hit("A", 2).allowed and limiter.hit("A", 2).allowed
