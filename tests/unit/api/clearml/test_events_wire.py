"""Event lines in ClearML's words turned into the core's events: what is taken, what is
refused and why, and the scroll ids' positions."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hangar.api.clearml.errors import ClearmlError
from hangar.api.clearml.events_wire import (
    EventLines,
    position,
    scalar_events,
    scalar_objects,
    scroll_id,
    scroll_state,
)
from hangar.core.tracking.metrics.models import (
    ImageIn,
    LogIn,
    PlotIn,
    ScalarIn,
    SeriesPoints,
    VectorIn,
)

TASK = "a" * 32


def scalar(**extra: Any) -> dict[str, Any]:
    return {"type": "training_stats_scalar", "task": TASK, "metric": "m", "variant": "v",
            "iter": 3, "value": 0.5, "timestamp": 1000, "model_event": False, **extra}  # fmt: skip


def test_sdk_lines_become_events_of_their_kind() -> None:
    lines = EventLines("vm")
    events = lines.parse([
        scalar(),
        scalar(value=2, timestamp=None, metric=None),  # an int value, defaults
        {"type": "training_stats_vector", "task": TASK, "values": [1, 2.5]},
        {"type": "plot", "task": TASK, "metric": "p", "plot_str": "{}", "iter": 1},
        {"type": "training_debug_image", "task": TASK, "url": "http://f/a/b.png"},
        {"type": "log", "task": TASK, "msg": "hi", "timestamp": 5},
    ])  # fmt: skip
    assert events[0] == ScalarIn(TASK, "m", "v", 3, 0.5, 1000, None)
    assert events[1] == ScalarIn(TASK, "", "v", 3, 2.0, lines.now, None)
    assert events[2] == VectorIn(TASK, "", "", 0, lines.now, "vm", [1.0, 2.5])
    assert events[3] == PlotIn(TASK, "p", "", 1, lines.now, "vm", "{}")
    assert events[4] == ImageIn(TASK, "", "", 0, lines.now, "vm", "a/b.png", "http://f/a/b.png")
    assert events[5] == LogIn(TASK, 5, "info", "vm", "hi")
    assert not lines.refused


def test_model_events_are_kept_apart_for_their_model() -> None:
    lines = EventLines(None)
    events = lines.parse([scalar(), scalar(model_event=True, task="b" * 32, iter=4)])
    assert events == [ScalarIn(TASK, "m", "v", 3, 0.5, 1000, None)]
    assert lines.model_events == [ScalarIn("b" * 32, "m", "v", 4, 0.5, 1000, None)]
    assert not lines.refused


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (scalar(type="nonsense"), "invalid event type"),
        (scalar(type=["training_stats_scalar"]), "invalid event type"),
        (scalar(task=None), "missing task"),
        (scalar(value="1"), "value must be a number"),
        (scalar(value=True), "value must be a number"),
        (scalar(iter=1.5), "iter must be an integer"),
        (scalar(iter=2**63), "iter out of range"),
        (scalar(metric="x" * 256), "metric longer than 255 characters"),
        ({"type": "log", "task": TASK, "level": "x" * 33}, "level longer than 32 characters"),
        ({"type": "plot", "task": TASK, "plot_str": {"data": []}}, "plot_str must be a string"),
    ],
)
def test_bad_lines_are_counted_with_their_reason(line: dict[str, Any], reason: str) -> None:
    lines = EventLines(None)
    assert lines.parse([line, scalar()]) == [ScalarIn(TASK, "m", "v", 3, 0.5, 1000, None)]
    assert lines.refused == {reason: 1}


def test_scroll_ids_hold_their_state_and_refuse_forgeries() -> None:
    state = {"l": "events", "t": TASK, "p": [1, [7, 9]]}
    assert scroll_state(scroll_id(state), l="events", t=TASK) == state
    assert position([7, 9], pair=True) == (7, 9)
    assert position(None, pair=False) is None
    for bad in ("%%%", scroll_id({"l": "events", "t": "other"}), scroll_id([1, 2])):
        with pytest.raises(ClearmlError) as refused:
            scroll_state(bad, l="events", t=TASK)
        assert (refused.value.result_code, refused.value.subcode) == (400, 1104)
    for bad_position in ([1, "x"], [2**70, 1], {"a": 1}, 1.5):
        with pytest.raises(ClearmlError):
            position(bad_position, pair=True)


def test_scalar_events_are_written_as_the_objects_would_be() -> None:
    runs = [
        SeriesPoints.of((TASK, 'lo"ss', "a"), (3, 2, 1), (1.5, None, float("inf")), (10, 11, 12)),
        SeriesPoints.of((TASK, 'lo"ss', "empty"), (), (), ()),
        SeriesPoints.of((TASK, "m", "ü"), (-5, 2**62), (float("nan"), 1e-300), (1, 2)),
        SeriesPoints.of((TASK, "n", "x"), (7, 6, 5), (None, None, -2.5), (-1, 0, 2**62)),
        SeriesPoints.of((TASK, "one", "y"), (0,), (None,), (3,)),
    ]
    for some in (runs, runs[:1], runs[1:2], runs[2:], runs[3:], runs[4:], []):
        written = orjson.dumps({"events": scalar_events(some)})
        assert written == orjson.dumps({"events": scalar_objects(some)})
    [first, *_] = orjson.loads(orjson.dumps(scalar_events(runs)))
    assert first == {"type": "training_stats_scalar", "task": TASK, "metric": 'lo"ss',
                     "variant": "a", "iter": 3, "value": 1.5, "timestamp": 10}  # fmt: skip
