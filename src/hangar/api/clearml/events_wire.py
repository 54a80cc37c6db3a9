"""Task events in ClearML's words: event lines in (``events.add_batch``), event objects and
scroll ids out.

Parsing is per line and cheap: a batch of thousands of scalar lines is the hot path of
experiment tracking. A line that is not a valid event counts as an error with a reason; the
rest of the batch is still stored (the reference server does the same).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from hangar.api.clearml.errors import ClearmlError
from hangar.core.tracking.metrics.models import (
    Event,
    EventIn,
    EventKind,
    ImageIn,
    LogIn,
    PlotIn,
    ScalarIn,
    SeriesPoints,
    VectorIn,
)

TYPES = {
    "training_stats_scalar": EventKind.SCALAR,
    "training_stats_vector": EventKind.VECTOR,
    "plot": EventKind.PLOT,
    "training_debug_image": EventKind.IMAGE,
    "log": EventKind.LOG,
}
WIRE_TYPES = {kind: name for name, kind in TYPES.items()}
MAX_NAME = 255  # characters of a metric or variant name (both sit in a unique index)
MAX_LEVEL = 32  # characters of a log level
INT64 = 2**63
_NUMBER = (int, float)


class BadEvent(Exception):
    """A line that cannot be stored; its message is the reason counted in ``errors_info``."""


def _text(item: dict[str, Any], key: str, default: str = "") -> str:
    value = item.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadEvent(f"{key} must be a string")
    return value


def _name(item: dict[str, Any], key: str) -> str:
    value = _text(item, key)
    if len(value) > MAX_NAME:
        raise BadEvent(f"{key} longer than {MAX_NAME} characters")
    return value


def _int(item: dict[str, Any], key: str, default: int) -> int:
    value = item.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise BadEvent(f"{key} must be an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise BadEvent(f"{key} must be an integer")
        value = int(value)
    if not -INT64 <= value < INT64:
        raise BadEvent(f"{key} out of range")
    return value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise BadEvent(f"{key} must be a number")
    return float(value)


class EventLines:
    """Turns a batch's objects into the core's events, counting the refused ones."""

    def __init__(self, worker: str | None) -> None:
        self.worker = worker or ""
        self.now = int(time.time() * 1000)
        self.refused: Counter[str] = Counter()
        self.model_events: list[EventIn] = []  # ``model_event``: their ``task`` is a model

    def parse(self, items: list[dict[str, Any]]) -> list[EventIn]:
        """The tasks' events; the models' go to :attr:`model_events`."""
        events: list[EventIn] = []
        add = events.append
        now = self.now
        for item in items:
            point = _plain_scalar(item, now)
            if point is not None:
                add(point)
                continue
            try:
                event = self.event(item)
            except BadEvent as exc:
                self.refused[str(exc)] += 1
                continue
            (self.model_events if item.get("model_event") else events).append(event)
        return events

    def event(self, item: dict[str, Any]) -> EventIn:
        name = item.get("type")
        kind = TYPES.get(name) if isinstance(name, str) else None
        if kind is None:
            raise BadEvent("invalid event type")
        task = item.get("task")
        if not isinstance(task, str) or not task:
            raise BadEvent("missing task")
        timestamp = _int(item, "timestamp", self.now)
        if kind is EventKind.LOG:
            level = _text(item, "level", "info")
            if len(level) > MAX_LEVEL:
                raise BadEvent(f"level longer than {MAX_LEVEL} characters")
            return LogIn(task, timestamp, level, self._worker(item), _text(item, "msg"))
        metric, variant, it = _name(item, "metric"), _name(item, "variant"), _int(item, "iter", 0)
        if kind is EventKind.SCALAR:
            value = item.get("value", item.get("values"))
            label = item.get("x_axis_label")
            return ScalarIn(
                task, metric, variant, it, _number(value, "value"), timestamp,
                label if isinstance(label, str) else None,
            )  # fmt: skip
        worker = self._worker(item)
        if kind is EventKind.PLOT:
            plot = item.get("plot_str")
            if not isinstance(plot, str):
                raise BadEvent("plot_str must be a string")
            return PlotIn(task, metric, variant, it, timestamp, worker, plot)
        if kind is EventKind.IMAGE:
            url = _text(item, "url")
            key = _text(item, "key") or urlsplit(url).path.lstrip("/")
            return ImageIn(task, metric, variant, it, timestamp, worker, key, url)
        values = item.get("values", item.get("value"))
        if not isinstance(values, list):
            raise BadEvent("values must be a list of numbers")
        return VectorIn(
            task, metric, variant, it, timestamp, worker, [_number(v, "values") for v in values]
        )

    def _worker(self, item: dict[str, Any]) -> str:
        worker = item.get("worker")
        return worker if isinstance(worker, str) else self.worker


def _plain_scalar(item: dict[str, Any], now: int) -> ScalarIn | None:
    """The scalar event of ``item`` when it is one as the SDK writes it (every field present
    and of its plain type); None for anything else, which :meth:`EventLines.event` checks
    field by field. Thousands of these arrive per request: this path is kept short."""
    get = item.get
    if get("type") != "training_stats_scalar" or get("model_event"):
        return None
    task, metric, variant = get("task"), get("metric"), get("variant")
    it, value, ts, label = get("iter"), get("value"), get("timestamp", now), get("x_axis_label")
    if (
        type(task) is str and task and type(metric) is str and type(variant) is str
        and type(it) is int and -INT64 <= it < INT64 and type(value) is float
        and type(ts) is int and -INT64 <= ts < INT64
        and len(metric) <= MAX_NAME and len(variant) <= MAX_NAME
        and (label is None or type(label) is str)
    ):  # fmt: skip
        return ScalarIn(task, metric, variant, it, value, ts, label)
    return None


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def event_object(event: Event) -> dict[str, Any]:
    """A stored event as the reads return it."""
    found: dict[str, Any] = {
        "type": WIRE_TYPES[event.kind],
        "task": event.task,
        "timestamp": event.timestamp,
        "worker": event.worker,
        "@timestamp": iso(event.written_at or event.timestamp),
    }
    if event.kind is EventKind.LOG:
        found |= {"level": event.level, "msg": event.msg}
        return found
    found |= {"metric": event.metric, "variant": event.variant, "iter": event.iter}
    if event.kind is EventKind.PLOT:
        assert event.plot is not None
        found |= {"plot_str": event.plot, "plot_len": len(event.plot)}
    elif event.kind is EventKind.IMAGE:
        found |= {"key": event.key, "url": event.url}
    elif event.kind is EventKind.VECTOR:
        found["values"] = event.values
    return found


def scalar_objects(runs: list[SeriesPoints]) -> list[dict[str, Any]]:
    """Scalar points as events (the fields the reference returns for them)."""
    kind = WIRE_TYPES[EventKind.SCALAR]
    found: list[dict[str, Any]] = []
    for run in runs:
        task, metric, variant = run.task, run.metric, run.variant
        found += [
            {
                "type": kind,
                "task": task,
                "metric": metric,
                "variant": variant,
                "iter": it,
                "value": value,
                "timestamp": ts,
            }  # fmt: skip
            for it, value, _, ts in run.rows
        ]
    return found


def _run_text(kind: str, run: SeriesPoints) -> bytes:
    """A run's events as JSON text, made from orjson's text of its rows by a few passes
    of ``bytes.replace``: ``[[i,v,null,t],[...]]`` has ``],[`` between rows, ``,null,``
    (or ``,null,null,`` after a null value) before the timestamp and one other comma,
    before the value. Numbers and null hold none of these characters."""
    constant = {"type": kind, "task": run.task, "metric": run.metric, "variant": run.variant}
    head = orjson.dumps(constant)[:-1] + b',"iter":'
    text = orjson.dumps(run.rows)[2:-2]
    nulls = b",null,null," in text
    if nulls:
        text = text.replace(b",null,null,", b"\x03null\x02")
    text = text.replace(b",null,", b"\x02").replace(b"],[", b"\x01").replace(b",", b',"value":')
    if nulls:
        text = text.replace(b"\x03", b',"value":')
    text = text.replace(b"\x02", b',"timestamp":').replace(b"\x01", b"}," + head)
    return head + text + b"}"


def scalar_events(runs: list[SeriesPoints]) -> orjson.Fragment:
    """The JSON array :func:`scalar_objects` makes, written without a dict per point. A
    whole history (100k points, 18 MB) is the hot path of reading scalars back."""
    return orjson.Fragment(b"[" + scalar_text(runs) + b"]")


def scalar_text(runs: list[SeriesPoints]) -> bytes:
    """The items of :func:`scalar_events`' array, comma-separated, without the brackets."""
    kind = WIRE_TYPES[EventKind.SCALAR]
    return b",".join(_run_text(kind, run) for run in runs if run.rows)


def scroll_id(state: dict[str, Any]) -> str:
    """An opaque scroll id holding where a listing stands (no server-side state)."""
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def scroll_state(value: str | None, **expected: Any) -> dict[str, Any] | None:
    """The state of a scroll id (None for none); 400/1104 when it is not one of ours or
    belongs to another listing (``expected`` keys must match)."""
    if not value:
        return None
    try:
        state = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, binascii.Error):
        state = None
    if not isinstance(state, dict) or any(state.get(k) != v for k, v in expected.items()):
        raise bad_scroll(value)
    return state


def bad_scroll(value: Any) -> ClearmlError:
    return ClearmlError(400, 1104, f"Invalid scroll id: {str(value)[:64]}")


def is_int64(value: Any) -> bool:
    return type(value) is int and -INT64 <= value < INT64


def position(value: Any, *, pair: bool) -> Any:
    """A position kept in a scroll id, checked: None, an int64, or (``pair``) two of them."""
    if value is None:
        return None
    if pair and isinstance(value, list) and len(value) == 2 and all(map(is_int64, value)):
        return (value[0], value[1])
    if not pair and is_int64(value):
        return value
    raise bad_scroll(value)
