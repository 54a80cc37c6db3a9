"""Experiment pages: projects, the task table, stored files, comparing tasks.

The task page itself and its actions are in :mod:`hangar.ui.experiments_task`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hangar.core.errors import InvalidRequest
from hangar.core.tracking.files import key_of_url
from hangar.core.tracking.metrics.models import XAxis
from hangar.ui import experiments_data as data
from hangar.ui.context import Viewer, page, ui_of

TABLE_REFRESH_S = 3  # the task table asks for its rows again this often


def json_response(value: Any) -> Response:
    """Compact JSON by orjson (NaN as null): a 100k-point series is megabytes, and the
    standard encoder spends ~0.3 s on its floats alone."""
    body = orjson.dumps(value, default=str)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


@page
async def projects(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    reads = ui.services.tracking.experiments.project_reads
    found = sorted(await reads.all(viewer.principal), key=lambda p: p.name.lower())
    stats = await reads.stats(viewer.principal, [p.id for p in found])
    counts = {pid: s["active"].total_tasks if "active" in s else 0 for pid, s in stats.items()}
    return ui.render(request, "experiments.html", viewer, projects=found, counts=counts)


@page
async def task_table(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    filters = data.TaskFilters.parse(dict(request.query_params),
                                     request.query_params.getlist("tag"))  # fmt: skip
    tasks, more = await data.task_page(ui.services, viewer.principal, filters)
    project = None
    if filters.project:
        project = await ui.services.tracking.experiments.project_reads.get(
            viewer.principal, filters.project
        )
    values: dict[str, Any] = {"tasks": tasks, "more": more, "filters": filters,
                              "refresh_s": TABLE_REFRESH_S}  # fmt: skip
    if request.headers.get("hx-request"):
        return ui.render(request, "experiments_table.html", viewer, **values)
    in_use = await data.tags_in_use(ui.services, viewer.principal, filters.project)
    return ui.render(request, "experiments_tasks.html", viewer, project=project,
                     statuses=data.STATUSES, tags=sorted({*in_use, *filters.tags}),
                     **values)  # fmt: skip


@page
async def stored_file(request: Request, viewer: Viewer) -> Response:
    """A file of the tracking file server (artifact, model weights, debug image), read with
    the viewer's rights."""
    ui = ui_of(request)
    key = key_of_url(request.query_params.get("url", ""))
    if key is None:
        raise InvalidRequest("url: a file server url.")
    files = ui.services.tracking.files
    info = await files.info(viewer.principal, key)
    name = info.file.filename.replace('"', "")
    inline = request.query_params.get("inline") == "1"
    headers = {
        "Content-Length": str(info.size),
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    media = "application/octet-stream"
    if inline and name.lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".webp")):
        media = "image/" + name.rsplit(".", 1)[1].lower().replace("jpg", "jpeg")
    return StreamingResponse(files.read(info), media_type=media, headers=headers)


@page
async def compare(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    ids = data.compared_ids(request.query_params.getlist("ids"))
    tasks = await data.tasks_of(ui.services, viewer.principal, ids)
    params = data.diff_rows([data.flat_hyperparams(t) for t in tasks])
    metrics = data.diff_rows([data.flat_metrics(t) for t in tasks])
    scalars_url = ui.url("/experiments/compare/scalars?" + urlencode([("ids", i) for i in ids]))
    return ui.render(request, "experiments_compare.html", viewer, tasks=tasks, params=params,
                     metrics=metrics, scalars_url=scalars_url, uplot=True,
                     auto_points=True)  # fmt: skip


@page
async def compare_scalars(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    ids = data.compared_ids(request.query_params.getlist("ids"))
    axis = data.axis_of(request.query_params.get("x", ""))
    asked = request.query_params.get("samples", "")
    tasks = await data.tasks_of(ui.services, viewer.principal, ids)
    auto = not asked
    samples = data.auto_samples(tasks) if auto else data.samples_of("" if asked == "all" else asked)
    found = await data.scalars(ui.services, viewer.principal, ids, axis, samples)
    names = {t.id: t.name for t in tasks}
    charts = data.scalar_charts(found, names)
    x = "time" if axis is XAxis.TIMESTAMP else "iter"
    return json_response({"x": x, "auto": auto, "samples": samples, "charts": charts})


routes = [
    Route("/experiments", projects, methods=["GET"]),
    Route("/experiments/tasks", task_table, methods=["GET"]),
    Route("/experiments/file", stored_file, methods=["GET"]),
    Route("/experiments/compare", compare, methods=["GET"]),
    Route("/experiments/compare/scalars", compare_scalars, methods=["GET"]),
]
