"""The pure parts of the queues core: moves within a queue, bucketing of queue samples and
worker reports, and what is kept of a worker's machine stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.core.queues.models import QueueSample, WorkerReport
from hangar.core.queues.reads import bucketed
from hangar.core.queues.service import Move, moved
from hangar.core.queues.workers import activity_of, compact_stats, series_of, widened

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("index", "how", "count", "expected"),
    [
        (3, Move.FORWARD, 1, [0, 1, 3, 2, 4]),
        (3, Move.FORWARD, 9, [3, 0, 1, 2, 4]),
        (1, Move.BACKWARD, 2, [0, 2, 3, 1, 4]),
        (1, Move.BACKWARD, 9, [0, 2, 3, 4, 1]),
        (4, Move.TO_FRONT, 1, [4, 0, 1, 2, 3]),
        (0, Move.TO_BACK, 1, [1, 2, 3, 4, 0]),
        (0, Move.FORWARD, 1, [0, 1, 2, 3, 4]),
    ],
)
def test_moves(index: int, how: Move, count: int, expected: list[int]) -> None:
    assert moved([0, 1, 2, 3, 4], index, how, count) == expected


@given(
    st.lists(st.integers(), min_size=1, max_size=30, unique=True),
    st.data(),
    st.sampled_from(list(Move)),
    st.integers(min_value=1, max_value=50),
)
def test_a_move_keeps_every_entry_and_the_others_order(
    order: list[int], data: st.DataObject, how: Move, count: int
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(order) - 1))
    after = moved(order, index, how, count)
    assert sorted(after) == sorted(order)
    item = order[index]
    assert [x for x in after if x != item] == [x for x in order if x != item]


def test_queue_samples_bucket_by_the_largest_wait() -> None:
    samples = [
        QueueSample("q", T0, 1, 5.0),
        QueueSample("q", T0 + timedelta(seconds=20), 3, 30.0),
        QueueSample("q", T0 + timedelta(seconds=40), 2, 10.0),
        QueueSample("q", T0 + timedelta(seconds=70), 0, 0.0),
    ]
    series = bucketed("q", samples, 60)
    start = int(T0.timestamp())
    assert series.dates == [start, start + 60]
    assert series.wait_seconds == [30.0, 0.0] and series.lengths == [3, 0]


def test_worker_series_average_cores_or_split_them() -> None:
    reports = [
        WorkerReport(1, T0, True, {"cpu_usage": [10.0, 30.0], "gpu_usage": [50.0]}),
        WorkerReport(1, T0 + timedelta(seconds=5), False, {"cpu_usage": [30.0, 50.0]}),
    ]
    (cpu,) = series_of(reports, 60, [("cpu_usage", "max"), ("cpu_usage", "min")],
                       split_by_variant=False)  # fmt: skip
    assert (cpu.variant, cpu.values) == ("total", {"max": [40.0], "min": [20.0]})
    split = series_of(reports, 60, [("cpu_usage", "avg")], split_by_variant=True)
    assert [(s.variant, s.values["avg"]) for s in split] == [("0", [20.0]), ("1", [40.0])]
    activity = activity_of([*reports, WorkerReport(2, T0, False, {})], 60)
    assert (activity.total, activity.active) == ([2], [1])


def test_machine_stats_keep_finite_numbers_only() -> None:
    stats = compact_stats({
        "cpu_usage": [1, 2.5, "x", True, float("nan")], "memory_used": 100, "note": "hi",
        "empty": [], 7: [1],
    })  # fmt: skip
    assert stats == {"cpu_usage": [1.0, 2.5], "memory_used": [100.0]}
    assert compact_stats(None) == {}


def test_windows_get_at_most_ten_thousand_buckets() -> None:
    assert widened(T0, T0 + timedelta(hours=1), 60) == 60
    assert widened(T0, T0 + timedelta(days=365), 1) == 3154
    with pytest.raises(Exception, match="interval"):
        widened(T0, T0, 0)
