"""``events.*`` reads that page through stored events: logs, plots, debug images, vectors,
and ``get_task_events`` over any kind."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from hangar.api.clearml.endpoints.events import (
    MAX_LIST,
    Body,
    MetricVariants,
    TaskBody,
    TasksBody,
    _kind,
    _metrics,
    reads,
)
from hangar.api.clearml.events_wire import (
    bad_scroll,
    event_object,
    position,
    scalar_objects,
    scroll_id,
    scroll_state,
)
from hangar.api.clearml.registry import Call, endpoint
from hangar.core.tracking.metrics.models import EventKind

KINDS = (EventKind.SCALAR, EventKind.VECTOR, EventKind.PLOT, EventKind.IMAGE, EventKind.LOG)
"""The order ``get_task_events`` with ``event_type: all`` goes through the kinds in."""


class LogBody(TaskBody):
    batch_size: int = Field(5000, ge=1, le=100_000)
    navigate_earlier: bool = True
    from_timestamp: int | None = Field(None, ge=-(2**62), le=2**62)
    order: Literal["asc", "desc"] | None = None


@endpoint("events.get_task_log")
async def get_task_log(call: Call) -> dict[str, Any]:
    """The newest ``batch_size`` lines older than ``from_timestamp`` (newest first unless
    ``order: asc``), or with ``navigate_earlier: false`` the oldest newer ones."""
    body = call.parse(LogBody)
    start = None
    if body.from_timestamp is not None:
        start = (body.from_timestamp, 0 if body.navigate_earlier else 2**62)
    lines, total = await reads(call).log_lines(
        call.principal, body.task, body.batch_size, earlier=body.navigate_earlier, start=start
    )
    if body.order == ("asc" if body.navigate_earlier else "desc"):
        lines.reverse()
    events = [event_object(line) for line in lines]
    return {"events": events, "returned": len(events), "total": total}


class PlotsBody(TaskBody):
    iters: int = Field(1, ge=1, le=10_000)
    metrics: list[MetricVariants] | None = Field(None, max_length=MAX_LIST)


class MultiPlotsBody(TasksBody):
    iters: int = Field(1, ge=1, le=10_000)


@endpoint("events.get_task_plots")
async def get_task_plots(call: Call) -> dict[str, Any]:
    """For each (metric, variant), the plots of its last ``iters`` iterations."""
    body = call.parse(PlotsBody)
    found = await reads(call).latest(
        call.principal, EventKind.PLOT, [body.task], body.iters, _metrics(body.metrics)
    )
    plots = [event_object(event) for event in found]
    return {"plots": plots, "returned": len(plots), "total": len(plots), "scroll_id": None}


@endpoint("events.get_multi_task_plots")
async def get_multi_task_plots(call: Call) -> dict[str, Any]:
    body = call.parse(MultiPlotsBody)
    tasks = await reads(call).tasks(call.principal, body.tasks)
    found = await reads(call).latest(call.principal, EventKind.PLOT, body.tasks, body.iters)
    plots = [event_object(e) | {"task_name": tasks[e.task].name} for e in found]
    return {"plots": plots, "returned": len(plots), "total": len(plots), "scroll_id": None}


class VectorBody(TaskBody):
    metric: str
    variant: str


@endpoint("events.vector_metrics_iter_histogram")
async def vector_metrics_iter_histogram(call: Call) -> dict[str, Any]:
    body = call.parse(VectorBody)
    found = await reads(call).latest(
        call.principal, EventKind.VECTOR, [body.task], 10_000, [(body.metric, [body.variant])]
    )
    found.sort(key=lambda e: e.iter)
    return {
        "metric": body.metric,
        "variant": body.variant,
        "vectors": [e.values for e in found],
        "iterations": [e.iter for e in found],
    }


class ImageQuery(Body):
    task: str
    metric: str | None = None
    variants: list[str] = Field([], max_length=MAX_LIST)


class DebugImagesBody(Body):
    metrics: list[ImageQuery] = Field(min_length=1, max_length=MAX_LIST)
    iters: int = Field(1, ge=1, le=10_000)
    navigate_earlier: bool = True
    refresh: bool = False
    scroll_id: str | None = None


@endpoint("events.debug_images")
async def debug_images(call: Call) -> dict[str, Any]:
    """Per (task, metric), the next ``iters`` iterations of images in the navigation
    direction; the scroll id remembers where each one stands, ``iterations: []`` at the end."""
    return await by_iterations(call, EventKind.IMAGE, "images")


async def by_iterations(call: Call, kind: EventKind, label: str) -> dict[str, Any]:
    """``debug_images`` or ``plots``: events of ``kind`` grouped by iteration."""
    body = call.parse(DebugImagesBody)
    earlier = body.navigate_earlier
    state = None if body.refresh else scroll_state(body.scroll_id, l=label, e=earlier)
    found_marks = state.get("b") if state else None
    if not isinstance(found_marks, list) or len(found_marks) != len(body.metrics):
        found_marks = [None] * len(body.metrics)
    marks: list[int | None] = [position(mark, pair=False) for mark in found_marks]
    answer = []
    for index, query in enumerate(body.metrics):
        found = await reads(call).iterations(
            call.principal, kind, query.task, metric=query.metric,
            variants=query.variants, iters=body.iters, beyond=marks[index], earlier=earlier,
        )  # fmt: skip
        if found:
            marks[index] = found[-1][0]
        iterations = [
            {"iter": it, "events": [event_object(e) for e in events]} for it, events in found
        ]
        answer.append({"task": query.task, "metric": query.metric, "iterations": iterations})
    next_state = {"l": label, "e": earlier, "b": marks}
    return {"scroll_id": scroll_id(next_state), "metrics": answer}


class TaskEventsBody(TaskBody):
    event_type: str | None = None
    order: Literal["asc", "desc"] = "asc"
    batch_size: int = Field(500, ge=1, le=100_000)
    scroll_id: str | None = None


@endpoint("events.get_task_events")
async def get_task_events(call: Call) -> dict[str, Any]:
    """A task's events of one kind (or all, kind after kind), paged by ``scroll_id``."""
    body = call.parse(TaskEventsBody)
    kind = _kind(body.event_type)
    kinds = [kind] if kind is not None else list(KINDS)
    state = scroll_state(body.scroll_id, l="events", t=body.task, o=body.order, k=body.event_type)
    index, after = _start(state, len(kinds))
    counts = await reads(call).counts(call.principal, body.task)
    events: list[dict[str, Any]] = []
    while index < len(kinds) and len(events) < body.batch_size:
        found, after = await _page(call, kinds[index], body, after, body.batch_size - len(events))
        events.extend(found)
        if after is None:
            index += 1
    next_state: dict[str, Any] = {"l": "events", "t": body.task, "o": body.order}
    next_state |= {"k": body.event_type, "p": [index, after]}
    return {
        "events": events,
        "returned": len(events),
        "total": sum(counts[k] for k in kinds),
        "scroll_id": scroll_id(next_state),
    }


def _start(state: dict[str, Any] | None, kinds: int) -> tuple[int, Any]:
    """Where a scroll id says a listing stands: the kind's index and the raw position."""
    if state is None:
        return 0, None
    found = state.get("p")
    if not (isinstance(found, list) and len(found) == 2 and type(found[0]) is int):
        raise bad_scroll(found)
    if not 0 <= found[0] <= kinds:
        raise bad_scroll(found)
    return found[0], found[1]


async def _page(
    call: Call, kind: EventKind, body: TaskEventsBody, after: Any, limit: int
) -> tuple[list[dict[str, Any]], Any]:
    """Up to ``limit`` events of ``kind`` after ``after``, and where the next page starts
    (None: no more)."""
    desc = body.order == "desc"
    if kind is EventKind.SCALAR:
        page = await reads(call).scalar_page(
            call.principal, body.task, limit=limit, descending=desc,
            after=position(after, pair=True),
        )  # fmt: skip
        return scalar_objects(page.runs), page.after
    if kind is EventKind.LOG:
        lines, _total = await reads(call).log_lines(
            call.principal, body.task, limit, earlier=desc,
            start=position(after, pair=True),
        )  # fmt: skip
        last = [lines[-1].timestamp, lines[-1].id] if len(lines) == limit else None
        return [event_object(e) for e in lines], last
    found = await reads(call).events(
        call.principal, kind, body.task, after=position(after, pair=False), limit=limit,
        descending=desc,
    )  # fmt: skip
    more = found.after[1] if found.after is not None else None
    return [event_object(e) for e in found.events], more
