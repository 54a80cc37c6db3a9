"""The task page: scalars (JSON for the charts), plots, debug images, console log,
hyperparameters and configuration, artifacts and models; abort and enqueue (the other
actions are in :mod:`hangar.ui.experiments_actions`)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.principal import Principal
from hangar.core.services import Services
from hangar.core.tracking.metrics.models import EventKind, XAxis
from hangar.core.tracking.tasks.models import ARCHIVED, Task
from hangar.ui import experiments_data as data
from hangar.ui.context import Viewer, mutation, page, ui_of
from hangar.ui.experiments import json_response

LOG_LINES = 2000
LOG_SEARCHED = 20_000
IMAGE_ITERS = 5
MAX_PLOTS = 40


def _task_id(request: Request) -> str:
    return str(request.path_params["task_id"])


async def _plots(services: Services, principal: Principal, task_id: str) -> list[Any]:
    """The latest figure of each plot (metric, variant), parsed; broken ones left out."""
    events = await services.tracking.metric_reads.latest(principal, EventKind.PLOT, [task_id], 1)
    figures = []
    for event in events[:MAX_PLOTS]:
        try:
            figure = json.loads(event.plot or "")
        except ValueError:
            continue
        if isinstance(figure, dict):
            figures.append({"metric": event.metric, "variant": event.variant,
                            "iter": event.iter, "figure": figure})  # fmt: skip
    return figures


async def _images(
    services: Services, principal: Principal, task_id: str, prefix: str, before: int | None
) -> list[tuple[int, list[dict[str, Any]]]]:
    found = await services.tracking.metric_reads.iterations(
        principal, EventKind.IMAGE, task_id, metric=None, variants=(), iters=IMAGE_ITERS,
        beyond=before, earlier=True,
    )  # fmt: skip
    return [(it, [{"metric": e.metric, "variant": e.variant, "url": e.url,
                   "src": data.file_link(prefix, e.url)} for e in events])
            for it, events in found]  # fmt: skip


async def _log(services: Services, principal: Principal, task_id: str, search: str) -> list[Any]:
    """The newest lines, oldest first; with ``search``: the matching ones of the newest
    LOG_SEARCHED lines."""
    reads = services.tracking.metric_reads
    limit = LOG_SEARCHED if search else LOG_LINES
    lines, _total = await reads.log_lines(principal, task_id, limit, earlier=True)
    lines.reverse()
    if search:
        wanted = search.lower()
        lines = [line for line in lines if wanted in (line.msg or "").lower()][-LOG_LINES:]
    return lines


async def _models(services: Services, principal: Principal, task: Task, prefix: str) -> list[Any]:
    shown = []
    for mode in ("input", "output"):
        for ref in (task.models or {}).get(mode) or []:
            model_id = ref.get("model") if isinstance(ref, dict) else None
            if not model_id:
                continue
            try:
                model = await services.tracking.models.get(principal, model_id)
            except HangarError:
                continue
            shown.append({"mode": mode, "name": model.name, "id": model.id, "uri": model.uri,
                          "link": data.file_link(prefix, model.uri)})  # fmt: skip
    return shown


def _artifacts(task: Task, prefix: str) -> list[dict[str, Any]]:
    found = [a for a in (task.execution or {}).get("artifacts") or [] if isinstance(a, dict)]
    return [{**a, "link": data.file_link(prefix, a.get("uri"))} for a in found]


def _before(request: Request) -> int | None:
    raw = request.query_params.get("images_before", "")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest("images_before: an iteration number.") from None


@page
async def task_detail(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    services, principal, task_id = ui.services, viewer.principal, _task_id(request)
    task = await services.tracking.experiments.task_reads.get(principal, task_id)
    search = request.query_params.get("log_q", "").strip()[:200]
    queues = await services.queues.reads.all(principal, with_entries=False)
    projects = await services.tracking.experiments.project_reads.all(principal)
    return ui.render(
        request, "experiments_task.html", viewer, task=task, uplot=True,
        plots=await _plots(services, principal, task_id),
        images=await _images(services, principal, task_id, ui.prefix, _before(request)),
        log=await _log(services, principal, task_id, search), log_q=search,
        models=await _models(services, principal, task, ui.prefix),
        artifacts=_artifacts(task, ui.prefix), queues=queues, archived=ARCHIVED in task.system_tags,
        projects=sorted(projects, key=lambda p: p.name.lower()),
        params=data.flat_hyperparams(task), metrics=data.flat_metrics(task),
    )  # fmt: skip


@page
async def task_log(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    search = request.query_params.get("log_q", "").strip()[:200]
    lines = await _log(ui.services, viewer.principal, _task_id(request), search)
    return ui.render(request, "experiments_log.html", viewer, log=lines, log_q=search)


@page
async def task_status(request: Request, viewer: Viewer) -> Response:
    """The status badge alone (the task page polls it while the task may still move)."""
    ui = ui_of(request)
    task = await ui.services.tracking.experiments.task_reads.get(
        viewer.principal, _task_id(request)
    )
    return ui.render(request, "experiments_status.html", viewer, task=task)


@page
async def task_scalars(request: Request, viewer: Viewer) -> Response:
    """The task's scalar series as columns: ``{"x": "iter"|"time", "charts": [...]}``,
    whole histories unless ``samples`` asks for at most that many points per series."""
    ui = ui_of(request)
    axis = data.axis_of(request.query_params.get("x", ""))
    samples = data.samples_of(request.query_params.get("samples", ""))
    found = await data.scalars(ui.services, viewer.principal, [_task_id(request)], axis, samples)
    return json_response({"x": "time" if axis is XAxis.TIMESTAMP else "iter",
                          "charts": data.scalar_charts(found)})  # fmt: skip


def _back(request: Request, task_id: str) -> Response:
    return RedirectResponse(ui_of(request).url(f"/experiments/tasks/{task_id}"), status_code=303)


@mutation
async def abort(request: Request, viewer: Viewer) -> Response:
    task_id = _task_id(request)
    await ui_of(request).services.queues.queueing.stop(viewer.principal, task_id)
    return _back(request, task_id)


@mutation
async def enqueue(request: Request, viewer: Viewer) -> Response:
    task_id = _task_id(request)
    form = await request.form()
    queue = str(form.get("queue") or "") or None
    await ui_of(request).services.queues.queueing.enqueue(viewer.principal, task_id, queue_id=queue)
    return _back(request, task_id)


routes = [
    Route("/experiments/tasks/{task_id}", task_detail, methods=["GET"]),
    Route("/experiments/tasks/{task_id}/log", task_log, methods=["GET"]),
    Route("/experiments/tasks/{task_id}/scalars", task_scalars, methods=["GET"]),
    Route("/experiments/tasks/{task_id}/status", task_status, methods=["GET"]),
    Route("/experiments/tasks/{task_id}/abort", abort, methods=["POST"]),
    Route("/experiments/tasks/{task_id}/enqueue", enqueue, methods=["POST"]),
]
