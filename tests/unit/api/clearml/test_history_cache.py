"""Kept scalar histories: served only for the stamp they were read at, within a budget."""

from __future__ import annotations

import zlib

from hangar.api.clearml.history_cache import MIN_POINTS, HistoryCache, Kept


def kept(size: int, points: int = MIN_POINTS) -> Kept:
    return Kept(b"x" * size, points)


def test_an_entry_serves_only_its_series_stamp_and_direction() -> None:
    cache = HistoryCache(budget=10_000)
    cache.put((1, 77, True), kept(100))
    assert cache.get((1, 77, True)) is not None
    assert cache.get((1, 78, True)) is None and cache.get((1, 77, False)) is None
    cache.put((1, 78, True), kept(100))  # the series changed: the old entry goes
    assert cache.get((1, 77, True)) is None and cache.get((1, 78, True)) is not None


def test_short_unstamped_or_oversized_histories_are_not_kept() -> None:
    cache = HistoryCache(budget=1000)
    cache.put((1, 0, True), kept(10))  # never written since the stamp column came
    cache.put((2, 5, True), kept(10, points=MIN_POINTS - 1))
    cache.put((3, 5, True), kept(1001))
    assert all(cache.get((sid, 5 if sid > 1 else 0, True)) is None for sid in (1, 2, 3))


def test_the_least_recently_used_go_first_past_the_budget() -> None:
    cache = HistoryCache(budget=250)
    cache.put((1, 1, True), kept(100))
    cache.put((2, 1, True), kept(100))
    assert cache.get((1, 1, True)) is not None  # used: 2 is now the oldest
    cache.put((3, 1, True), kept(100))
    assert cache.get((2, 1, True)) is None
    assert cache.get((1, 1, True)) is not None and cache.get((3, 1, True)) is not None


def test_the_deflated_form_is_made_once_and_inflates_back() -> None:
    entry = kept(5000)
    assert not entry.ready
    first = entry.deflated()
    assert entry.ready and entry.deflated() is first
    assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(first.blob) == entry.text
    assert (first.crc, first.size) == (zlib.crc32(entry.text), 5000)
