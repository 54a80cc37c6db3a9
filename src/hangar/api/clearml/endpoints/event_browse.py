"""``events.*`` reads of the ClearML web app: the task log as a file, plots by iteration,
debug images one at a time, the latest scalar values, and the metrics of several tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, cast

import orjson
from pydantic import Field
from starlette.responses import StreamingResponse

from hangar.api.clearml.endpoints.event_pages import by_iterations
from hangar.api.clearml.endpoints.events import (
    TaskBody,
    TasksBody,
    _kind,
    reads,
)
from hangar.api.clearml.endpoints.tasks import experiments
from hangar.api.clearml.errors import ClearmlError
from hangar.api.clearml.events_wire import event_object, iso, scroll_id, scroll_state
from hangar.api.clearml.registry import Call, endpoint
from hangar.core.principal import Principal
from hangar.core.tracking.metrics.browse import SampleKey
from hangar.core.tracking.metrics.models import Event, EventKind
from hangar.core.tracking.metrics.reads import MetricsReads

LOG_PAGE = 1000  # lines read at a time for a log download
LOG_FIELDS = frozenset({"asctime", "timestamp", "level", "worker", "msg"})


class DownloadLogBody(TaskBody):
    line_type: Literal["json", "text"] = "json"
    line_format: str = Field("{asctime} {worker} {level} {msg}", max_length=4096)


def _checked_format(line_format: str) -> str:
    """The format with a newline at its end; 400/12 naming what is wrong with it."""
    if not line_format:
        raise ClearmlError(400, 12, "Validation error: line_format is required for text lines")
    try:
        line_format.format(**dict.fromkeys(LOG_FIELDS, ""))
    except KeyError as exc:
        raise ClearmlError(
            400, 12, f"Validation error: undefined placeholders in line format: {exc.args[0]}"
        ) from None
    except (ValueError, IndexError, AttributeError, TypeError) as exc:
        raise ClearmlError(400, 12, f"Validation error: invalid line format: {exc}") from None
    return line_format.rstrip("\n") + "\n"


@endpoint("events.download_task_log")
async def download_task_log(call: Call) -> StreamingResponse:
    """The task's whole log, oldest line first, as a file: json lines or formatted text."""
    body = call.parse(DownloadLogBody)
    line_format = _checked_format(body.line_format) if body.line_type == "text" else ""
    found = reads(call)
    await found.task(call.principal, body.task)  # refused before the answer starts

    def line(event: Event) -> bytes:
        fields = {"asctime": event.timestamp, "timestamp": event.timestamp,
                  "level": event.level, "worker": event.worker, "msg": event.msg}  # fmt: skip
        if line_format:
            return line_format.format(**fields).encode()
        del fields["timestamp"]
        return orjson.dumps(fields | {"@timestamp": iso(event.written_at)}) + b"\n"

    async def lines() -> AsyncIterator[bytes]:
        start = None
        while True:
            page, _total = await found.log_lines(
                call.principal, body.task, LOG_PAGE, earlier=False, start=start
            )
            if page:
                yield b"".join(map(line, page))
                start = (page[-1].timestamp, page[-1].id)
            if len(page) < LOG_PAGE:
                return

    disposition = f'attachment; filename="task_{body.task}.log"'
    return StreamingResponse(
        lines(), media_type="text/plain", headers={"Content-Disposition": disposition}
    )


@endpoint("events.plots")
async def plots(call: Call) -> dict[str, Any]:
    """Per (task, metric), the next ``iters`` iterations of plots (as ``debug_images``)."""
    return await by_iterations(call, EventKind.PLOT, "plots")


# -- debug images one at a time ----------------------------------------------------------


class SampleBody(TaskBody):
    metric: str
    variant: str
    iteration: int | None = Field(None, ge=-(2**63), lt=2**63)
    refresh: bool = False
    scroll_id: str | None = None
    navigate_current_metric: bool = True


class NextSampleBody(TaskBody):
    scroll_id: str
    navigate_earlier: bool = True
    next_iteration: bool = False


@endpoint("events.get_debug_image_sample")
async def get_debug_image_sample(call: Call) -> dict[str, Any]:
    """The variant's image at ``iteration`` (default: its latest), with the variant's first
    and last iteration; the scroll id lets ``next_debug_image_sample`` move on from it."""
    body = call.parse(SampleBody)
    scope = body.metric if body.navigate_current_metric else None
    keys = await _keys(reads(call), call.principal, EventKind.IMAGE, body.task, scope)
    mine = [k for k in keys if (k.metric, k.variant) == (body.metric, body.variant)]
    if body.iteration is not None:
        mine = [k for k in mine if k.iter == body.iteration]
    at = mine[-1] if mine else None
    return await _sample_answer(call, body.task, scope, keys, at)


@endpoint("events.next_debug_image_sample")
async def next_debug_image_sample(call: Call) -> dict[str, Any]:
    """The image next to the last one shown: the previous (``navigate_earlier``) or next
    variant in the same iteration, else of the iteration before or after; with
    ``next_iteration``, the same variant's image of the iteration before or after."""
    body = call.parse(NextSampleBody)
    state = scroll_state(body.scroll_id, l="sample", t=body.task)
    if state is None:
        raise ClearmlError(400, 1104, "Invalid scroll id: a scroll id is required")
    scope, current = state.get("m"), state.get("k")
    if not (scope is None or isinstance(scope, str)) or not _is_key(current):
        raise ClearmlError(400, 1104, "Invalid scroll id")
    keys = await _keys(reads(call), call.principal, EventKind.IMAGE, body.task, scope)
    it, metric, variant = cast(list[Any], current)
    if body.next_iteration:
        same = [k for k in keys if (k.metric, k.variant) == (metric, variant)]
        pick = [k for k in same if (k.iter < it if body.navigate_earlier else k.iter > it)]
        at = (pick[-1] if body.navigate_earlier else pick[0]) if pick else None
    else:
        order = [(k.iter, k.metric, k.variant) for k in keys]
        before = [k for k, o in zip(keys, order, strict=True) if o < (it, metric, variant)]
        after = [k for k, o in zip(keys, order, strict=True) if o > (it, metric, variant)]
        pick = before[-1:] if body.navigate_earlier else after[:1]
        at = pick[0] if pick else None
    if at is None:  # nothing further: the answer stays where it was
        return await _sample_answer(call, body.task, scope, keys, None, current)
    return await _sample_answer(call, body.task, scope, keys, at)


def _is_key(value: Any) -> bool:
    return (
        isinstance(value, list) and len(value) == 3 and type(value[0]) is int
        and isinstance(value[1], str) and isinstance(value[2], str)
    )  # fmt: skip


async def _keys(
    found: MetricsReads, principal: Principal, kind: EventKind, task: str, metric: str | None
) -> list[SampleKey]:
    keys = await found.sample_keys(principal, kind, task)
    return [k for k in keys if metric is None or k.metric == metric]


async def _sample_answer(
    call: Call,
    task: str,
    scope: str | None,
    keys: list[SampleKey],
    at: SampleKey | None,
    stay: list[Any] | None = None,
) -> dict[str, Any]:
    """``{scroll_id, event, min_iteration, max_iteration}`` for the image ``at`` (None: no
    image; the scroll id then keeps ``stay``, where the navigation stood)."""
    where = [at.iter, at.metric, at.variant] if at is not None else stay
    event = None
    low = high = None
    found = None
    if at is not None:
        found = await reads(call).sample(call.principal, EventKind.IMAGE, task, at.id)
    if at is not None and found is not None:
        event = event_object(found)
        iters = [k.iter for k in keys if (k.metric, k.variant) == (at.metric, at.variant)]
        low, high = min(iters), max(iters)
    state = {"l": "sample", "t": task, "m": scope, "k": where}
    return {
        "scroll_id": scroll_id(state) if where is not None else None,
        "event": event,
        "min_iteration": low,
        "max_iteration": high,
    }


# -- plots one (metric, iteration) at a time -------------------------------------------


class PlotSampleBody(TaskBody):
    metric: str
    iteration: int | None = Field(None, ge=-(2**63), lt=2**63)
    refresh: bool = False
    scroll_id: str | None = None
    navigate_current_metric: bool = True


@endpoint("events.get_plot_sample")
async def get_plot_sample(call: Call) -> dict[str, Any]:
    """The metric's plots (every variant) of its last iteration up to ``iteration`` (default:
    its latest), with the metric's first and last iteration; the scroll id lets
    ``next_plot_sample`` move on from there."""
    body = call.parse(PlotSampleBody)
    scope = body.metric if body.navigate_current_metric else None
    keys = await _keys(reads(call), call.principal, EventKind.PLOT, body.task, scope)
    mine = [(k.iter, k.metric) for k in keys if k.metric == body.metric]
    if body.iteration is not None:
        mine = [at for at in mine if at[0] <= body.iteration]
    at = list(mine[-1]) if mine else None
    return await _plots_answer(call, body.task, scope, keys, at, at, body.metric)


@endpoint("events.next_plot_sample")
async def next_plot_sample(call: Call) -> dict[str, Any]:
    """The plots next to the last ones shown: of the previous (``navigate_earlier``) or next
    metric in the same iteration, else of the iteration before or after; with
    ``next_iteration``, of the nearest iteration before or after (the same metric's only
    when the navigation keeps to one metric)."""
    body = call.parse(NextSampleBody)
    state = scroll_state(body.scroll_id, l="plot", t=body.task)
    if state is None:
        raise ClearmlError(400, 1104, "Invalid scroll id: a scroll id is required")
    scope, current = state.get("m"), state.get("k")
    if not (scope is None or isinstance(scope, str)) or not _is_place(current):
        raise ClearmlError(400, 1104, "Invalid scroll id")
    keys = await _keys(reads(call), call.principal, EventKind.PLOT, body.task, scope)
    it, metric = cast(list[Any], current)
    places = sorted({(k.iter, k.metric) for k in keys})
    if body.next_iteration:
        pick = [p for p in places if (p[0] < it if body.navigate_earlier else p[0] > it)]
    else:
        here = (it, metric)
        pick = [p for p in places if (p < here if body.navigate_earlier else p > here)]
    found = (pick[-1] if body.navigate_earlier else pick[0]) if pick else None
    if found is None:  # nothing further: the answer stays where it was
        return await _plots_answer(call, body.task, scope, keys, None, current, None)
    at = list(found)
    return await _plots_answer(call, body.task, scope, keys, at, at, found[1])


def _is_place(value: Any) -> bool:
    return (
        isinstance(value, list) and len(value) == 2 and type(value[0]) is int
        and isinstance(value[1], str)
    )  # fmt: skip


async def _plots_answer(
    call: Call,
    task: str,
    scope: str | None,
    keys: list[SampleKey],
    at: list[Any] | None,
    where: list[Any] | None,
    metric: str | None,
) -> dict[str, Any]:
    """``{scroll_id, events, min_iteration, max_iteration}`` for the plots of the metric at
    the iteration ``at`` names (None: none; the scroll id then keeps ``where``), with the
    first and last iteration of ``metric``."""
    events: list[dict[str, Any]] = []
    if at is not None:
        ids = [k.id for k in keys if [k.iter, k.metric] == at]
        found = await reads(call).samples(call.principal, EventKind.PLOT, task, ids)
        events = [event_object(e) for e in sorted(found, key=lambda e: (e.variant, e.id))]
    iters = [k.iter for k in keys if k.metric == metric]
    low, high = (min(iters), max(iters)) if iters else (None, None)
    state = {"l": "plot", "t": task, "m": scope, "k": where}
    return {
        "scroll_id": scroll_id(state) if where is not None else None,
        "events": events,
        "min_iteration": low,
        "max_iteration": high,
    }


# -- scalars and metrics of tasks ----------------------------------------------------------


@endpoint("events.get_task_latest_scalar_values")
async def get_task_latest_scalar_values(call: Call) -> dict[str, Any]:
    """Per metric, each variant's last value and the average of its last 100 values."""
    body = call.parse(TaskBody)
    values = await reads(call).latest_values(call.principal, body.task)
    if call.body.get("model_events") is True:  # a model's own scalars
        model = await call.services.tracking.models.get(call.principal, body.task)
        name, status, last_iter = (
            model.name,
            "published" if model.ready else "created",
            (model.last_iteration),
        )
    else:
        task = await experiments(call).task_reads.get(call.principal, body.task)
        name, status, last_iter = task.name, task.status.value, task.last_iteration
    metrics: dict[str, list[dict[str, Any]]] = {}
    for value in values:
        metrics.setdefault(value.metric, []).append(
            {"name": value.variant, "last_value": value.last, "last_100_value": value.last_100}
        )
    stamps = [v.last_timestamp for v in values if v.last_timestamp is not None]
    return {
        "metrics": [{"name": name, "variants": found} for name, found in metrics.items()],
        "last_iter": last_iter,
        "name": name,
        "status": status,
        "last_timestamp": max(stamps) if stamps else None,
    }


class MultiTaskMetricsBody(TasksBody):
    event_type: str | None = None


@endpoint("events.get_multi_task_metrics")
async def get_multi_task_metrics(call: Call) -> dict[str, Any]:
    """The metrics and variants the tasks reported events of one kind under (default:
    scalars), all tasks together, sorted: what the compare view offers to pick."""
    body = call.parse(MultiTaskMetricsBody)
    kind = _kind(body.event_type) or EventKind.SCALAR
    pairs = await reads(call).metric_variants(call.principal, body.tasks, kind)
    metrics: dict[str, list[str]] = {}
    for metric, variant in pairs:
        metrics.setdefault(metric, []).append(variant)
    return {"metrics": [{"metric": m, "variants": v} for m, v in metrics.items()]}
