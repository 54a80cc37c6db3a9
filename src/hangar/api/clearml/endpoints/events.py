"""``events.*``: a task's scalars, plots, debug images, vectors and logs, in and out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any, cast

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hangar.api.clearml.envelope import StreamedList
from hangar.api.clearml.errors import ClearmlError
from hangar.api.clearml.events_wire import (
    TYPES,
    EventLines,
    iso,
    position,
    scalar_events,
    scalar_text,
    scroll_id,
    scroll_state,
)
from hangar.api.clearml.history_cache import MIN_POINTS, HistoryCache, Kept
from hangar.api.clearml.params import JSON_LINES
from hangar.api.clearml.registry import Call, endpoint
from hangar.core.tracking.metrics.models import EventKind, Series, XAxis
from hangar.core.tracking.metrics.reads import MetricsReads
from hangar.core.tracking.metrics.service import MetricsService

PAGE = 10_000  # scalar points per page of get_scalar_metric_data
CHUNK = 5000  # scalar points per piece of a whole history sent as it is read
WHOLE = 10_000_000  # "no_scroll": everything in one answer
MAX_LIST = 1000  # tasks, metrics or variants one read names


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TaskBody(Body):
    task: str


class TasksBody(Body):
    tasks: list[str] = Field(min_length=1, max_length=MAX_LIST)

    @field_validator("tasks", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return [t.strip() for t in value.split(",")] if isinstance(value, str) else value


class MetricVariants(Body):
    metric: str
    variants: list[str] = Field([], max_length=MAX_LIST)


def writes(call: Call) -> MetricsService:
    return call.services.tracking.metrics


def reads(call: Call) -> MetricsReads:
    """The reads of tasks' events; of models' own events with ``model_events: true``."""
    tracking = call.services.tracking
    return tracking.model_metric_reads if call.body.get("model_events") is True else (
        tracking.metric_reads
    )  # fmt: skip


def _metrics(found: list[MetricVariants] | None) -> list[tuple[str, list[str]]]:
    return [(m.metric, m.variants) for m in found or ()]


# -- writes ------------------------------------------------------------------------------


async def _add(call: Call, items: list[dict[str, Any]]) -> dict[str, Any]:
    lines = EventLines(call.worker)
    events = lines.parse(items)
    result = await writes(call).add(call.principal, events, lines.refused, lines.model_events)
    if not result.added:
        raise ClearmlError(
            400, 131, "Events not added: " + "; ".join(sorted(result.reasons)),
            data={"errors": result.errors, "errors_info": result.reasons},
        )  # fmt: skip
    return {"added": result.added, "errors": result.errors, "errors_info": result.reasons}


@endpoint("events.add_batch")
async def add_batch(call: Call) -> dict[str, Any]:
    """json-lines: one event object per line."""
    return await _add(call, await _items(call))


async def _items(call: Call) -> list[dict[str, Any]]:
    """The batch's objects. A json-lines body of well-formed objects (what the SDK sends) is
    parsed in one go, thousands of lines in one call of the parser; anything else goes the
    line-by-line way, which names the first bad line."""
    raw = await call.request.body()  # read and kept by the face before the handler runs
    if (
        call.request.headers.get("content-type", "").startswith(JSON_LINES)
        and b"\\u0000" not in raw
    ):
        lines = [line for line in raw.splitlines() if line.strip()]
        try:
            items = orjson.loads(b"[" + b",".join(lines) + b"]")
        except orjson.JSONDecodeError:
            items = None
        if items and all(type(item) is dict for item in items):
            return cast(list[dict[str, Any]], items)
    return call.batch()


@endpoint("events.add")
async def add(call: Call) -> dict[str, Any]:
    return await _add(call, [call.body])


@endpoint("events.delete_for_task")
async def delete_for_task(call: Call) -> dict[str, Any]:
    body = call.parse(TaskBody)
    return {"deleted": await writes(call).delete_for_task(call.principal, body.task)}


class ClearLogBody(TaskBody):
    threshold_sec: int | None = Field(None, ge=0, le=10**10)


@endpoint("events.clear_task_log")
async def clear_task_log(call: Call) -> dict[str, Any]:
    """Delete the task's log lines, or those older than ``threshold_sec`` seconds."""
    body = call.parse(ClearLogBody)
    deleted = await writes(call).clear_log(call.principal, body.task, body.threshold_sec)
    return {"deleted": deleted}


@endpoint("events.clear_scroll")
async def clear_scroll(call: Call) -> dict[str, Any]:
    return {}  # scroll ids hold their state themselves


# -- scalars -----------------------------------------------------------------------------


class HistogramBody(TaskBody):
    samples: int | None = Field(None, ge=1)
    key: str = "iter"
    metrics: list[MetricVariants] | None = Field(None, max_length=MAX_LIST)


class MultiHistogramBody(TasksBody):
    samples: int | None = Field(None, ge=1)
    key: str = "iter"


def _axis(key: str) -> XAxis:
    if key == "iter":
        return XAxis.ITER
    if key in ("timestamp", "iso_time"):
        return XAxis.TIMESTAMP
    raise ClearmlError(400, 12, "Validation error: key must be iter, timestamp or iso_time")


def _plotted(series: Series, key: str) -> dict[str, Any]:
    x: list[Any] = [iso(ms) for ms in series.x] if key == "iso_time" else series.x
    return {"name": series.variant, "x": x, "y": series.y}


@endpoint("events.scalar_metrics_iter_histogram")
async def scalar_metrics_iter_histogram(call: Call) -> dict[str, Any]:
    """``{metric: {variant: {name, x, y}}}``: each series whole, or at most ``samples``
    points (averages over equal intervals of x)."""
    body = call.parse(HistogramBody)
    found = await reads(call).histograms(
        call.principal, [body.task], samples=body.samples, axis=_axis(body.key),
        metrics=_metrics(body.metrics),
    )  # fmt: skip
    data: dict[str, Any] = {}
    for series in found:
        data.setdefault(series.metric, {})[series.variant] = _plotted(series, body.key)
    return data


@endpoint("events.multi_task_scalar_metrics_iter_histogram")
async def multi_task_scalar_metrics_iter_histogram(call: Call) -> dict[str, Any]:
    """``{metrics: {metric: {variant: {task: {name, x, y}}}}}`` (name: the task's)."""
    body = call.parse(MultiHistogramBody)
    tasks = await reads(call).tasks(call.principal, body.tasks)
    found = await reads(call).histograms(
        call.principal, body.tasks, samples=body.samples, axis=_axis(body.key)
    )
    metrics: dict[str, Any] = {}
    for series in found:
        plotted = _plotted(series, body.key) | {"name": tasks[series.task].name}
        metrics.setdefault(series.metric, {}).setdefault(series.variant, {})[series.task] = plotted
    return {"metrics": metrics}


class MetricDataBody(TaskBody):
    metric: str | None = None
    scroll_id: str | None = None
    no_scroll: bool = False
    batch_size: int | None = Field(None, ge=1)


@endpoint("events.get_scalar_metric_data")
async def get_scalar_metric_data(call: Call) -> dict[str, Any] | StreamedList:
    """Scalar points of one metric, newest iteration first, paged by ``scroll_id``; with
    ``no_scroll``, all of them, sent as they are read."""
    body = call.parse(MetricDataBody)
    state = scroll_state(body.scroll_id, l="metric", t=body.task, m=body.metric)
    if body.no_scroll and state is None:
        return await _whole_metric(call, body)
    limit = WHOLE if body.no_scroll else body.batch_size or PAGE
    done = bool(state and state.get("d"))  # the last page was given: nothing follows
    page = await reads(call).scalar_page(
        call.principal, body.task, metric=body.metric, limit=1 if done else limit,
        descending=True, after=position(state.get("a"), pair=True) if state else None,
    )  # fmt: skip
    after: dict[str, Any] = {"l": "metric", "t": body.task, "m": body.metric, "a": page.after}
    if page.after is None or done:
        after |= {"a": None, "d": 1}
    runs = [] if done else page.runs
    return {
        "events": scalar_events(runs),
        "returned": sum(len(run.rows) for run in runs),
        "total": page.total,
        "scroll_id": None if body.no_scroll else scroll_id(after),
    }


async def _whole_metric(call: Call, body: MetricDataBody) -> StreamedList:
    """The whole history, kept series sent as kept. It goes gzipped only when every series
    is kept deflated: compressing 18 MB while answering costs more than it saves on a local
    link, so a series read anew goes plain and is deflated for the next read off the loop."""
    history = await reads(call).scalar_history(
        call.principal, body.task, metric=body.metric, descending=True, chunk=CHUNK
    )
    cache = histories(call)
    keys = [(ref.id, ref.stamp, history.descending) for ref in history.series]
    kept = [cache.get(key) for key in keys]
    sent = 0

    async def pieces() -> AsyncGenerator[bytes | Kept, None]:
        nonlocal sent
        for ref, key, found in zip(history.series, keys, kept, strict=True):
            if found is not None:
                sent += found.points
                yield found
                continue
            texts: list[bytes] = []
            points = 0
            async for run in history.runs_of(ref):
                points += len(run.rows)
                sent += len(run.rows)
                texts.append(scalar_text([run]))
                yield texts[-1]
            whole = Kept(b",".join(texts), points)
            if points >= MIN_POINTS and await history.unchanged(ref):
                cache.put(key, whole)
                asyncio.get_running_loop().run_in_executor(None, whole.deflated)

    return StreamedList(
        "events", pieces(), lambda: {"returned": sent, "total": sent, "scroll_id": None},
        compressible=bool(kept) and all(k is not None and k.ready for k in kept),
    )  # fmt: skip


def histories(call: Call) -> HistoryCache:
    """The app's kept histories."""
    found = getattr(call.request.app.state, "histories", None)
    if not isinstance(found, HistoryCache):
        found = call.request.app.state.histories = HistoryCache()
    return found


@endpoint("events.get_scalar_metrics_and_variants")
async def get_scalar_metrics_and_variants(call: Call) -> dict[str, Any]:
    body = call.parse(TaskBody)
    metrics: dict[str, Any] = {}
    for metric, variant in await reads(call).series_names(call.principal, body.task):
        metrics.setdefault(metric, {})[variant] = {"name": variant}
    return {"metrics": metrics}


class SingleValuesBody(TasksBody):
    metrics: list[MetricVariants] | None = Field(None, max_length=MAX_LIST)


@endpoint("events.get_task_single_value_metrics")
async def get_task_single_value_metrics(call: Call) -> dict[str, Any]:
    body = call.parse(SingleValuesBody)
    wanted = dict(_metrics(body.metrics))
    answer = []
    for task, points in await reads(call).single_values(call.principal, body.tasks):
        values = [
            {"metric": p.metric, "variant": p.variant, "value": p.value, "timestamp": p.timestamp}
            for p in points
            if not wanted or (p.metric in wanted and p.variant in (wanted[p.metric] or [p.variant]))
        ]
        answer.append({"task": task.id, "task_name": task.name, "values": values})
    return {"tasks": answer}


class TaskMetricsBody(TasksBody):
    event_type: str | None = None


@endpoint("events.get_task_metrics")
async def get_task_metrics(call: Call) -> dict[str, Any]:
    body = call.parse(TaskMetricsBody)
    kind = _kind(body.event_type)
    names = await reads(call).metric_names(call.principal, body.tasks, kind)
    return {"metrics": [{"task": task, "metrics": found} for task, found in names.items()]}


def _kind(event_type: str | None) -> EventKind | None:
    if event_type in (None, "", "all"):
        return None
    kind = TYPES.get(event_type)
    if kind is None:
        raise ClearmlError(400, 12, f"Validation error: unknown event_type {event_type}")
    return kind
