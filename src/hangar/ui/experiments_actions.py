"""Task actions beyond abort and enqueue: reset, archive/restore, publish, move to another
project, and clone, either at once or from a page where the clone's name, project and
hyperparameters are edited first and the clone is enqueued when a queue is chosen.

Each goes through the same core services the ClearML face calls (``tasks.reset``,
``tasks.update``, ``tasks.publish``, ``tasks.clone``, ``tasks.enqueue``) with the viewer's
principal: a task the viewer may not write is refused as it is there.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.tracking.tasks.models import ARCHIVED, Task, check_name
from hangar.core.tracking.tasks.states import TaskStatus
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of

MAX_VALUE = 64 * 1024


def _task_id(request: Request) -> str:
    return str(request.path_params["task_id"])


def _back(request: Request, task_id: str) -> Response:
    return RedirectResponse(ui_of(request).url(f"/experiments/tasks/{task_id}"), status_code=303)


@mutation
async def reset(request: Request, viewer: Viewer) -> Response:
    """Back to created with the run's results gone; a queued task leaves its queue first."""
    ui, task_id = ui_of(request), _task_id(request)
    task = await ui.services.tracking.experiments.task_reads.get(viewer.principal, task_id)
    if task.status is TaskStatus.QUEUED:
        await ui.services.queues.queueing.dequeue(viewer.principal, task_id)
    await ui.services.tracking.experiments.tasks.reset(viewer.principal, task_id, force=False)
    return _back(request, task_id)


@mutation
async def archive(request: Request, viewer: Viewer) -> Response:
    """``archive=1`` puts the task in the archive, ``archive=0`` takes it out."""
    ui, task_id = ui_of(request), _task_id(request)
    wanted = str((await request.form()).get("archive") or "1") == "1"
    tasks = ui.services.tracking.experiments
    task = await tasks.task_reads.get(viewer.principal, task_id)
    tags = [t for t in task.system_tags if t != ARCHIVED] + ([ARCHIVED] if wanted else [])
    await tasks.tasks.update(viewer.principal, task_id, {"system_tags": tags})
    return _back(request, task_id)


@mutation
async def publish(request: Request, viewer: Viewer) -> Response:
    """Published, with its output models, as ``tasks.publish`` does (completed or stopped
    tasks only: the core refuses the others with the reason)."""
    ui, task_id = ui_of(request), _task_id(request)
    await ui.services.tracking.experiments.tasks.publish(viewer.principal, task_id)
    await ui.services.tracking.models.tasks_published([task_id])
    return _back(request, task_id)


@mutation
async def move(request: Request, viewer: Viewer) -> Response:
    ui, task_id = ui_of(request), _task_id(request)
    await ui.services.tracking.experiments.task_reads.get(viewer.principal, task_id)
    project = str((await request.form()).get("project") or "")
    if not project:
        raise InvalidRequest("Project: choose one.")
    await ui.services.tracking.experiments.tasks.update(
        viewer.principal, task_id, {"project": project}
    )
    return _back(request, task_id)


def param_rows(task: Task) -> list[dict[str, str]]:
    """The task's hyperparameters as the clone page edits them: section, name, value and
    the key the form sends back (JSON ``[section, name]``: names may hold any character)."""
    rows = []
    for section, params in sorted((task.hyperparams or {}).items()):
        if not isinstance(params, dict):
            continue
        for name, param in sorted(params.items()):
            value = param.get("value") if isinstance(param, dict) else param
            rows.append({"section": section, "name": name, "key": json.dumps([section, name]),
                         "value": "" if value is None else str(value)})  # fmt: skip
    return rows


def edited_hyperparams(source: Task, form: FormData) -> dict[str, Any] | None:
    """The source's hyperparameters with the values the form sends (``param_key`` and
    ``param_value`` pairs); None when the form sends none. Raises InvalidRequest."""
    keys, values = form.getlist("param_key"), form.getlist("param_value")
    if not keys:
        return None
    if len(keys) != len(values):
        raise InvalidRequest("Hyperparameters: every name needs a value.")
    params: dict[str, Any] = {s: dict(p) for s, p in (source.hyperparams or {}).items()
                              if isinstance(p, dict)}  # fmt: skip
    for raw_key, raw_value in zip(keys, values, strict=True):
        try:
            section, name = json.loads(str(raw_key))
        except (ValueError, TypeError):
            raise InvalidRequest("Hyperparameters: a parameter the form did not offer.") from None
        value = str(raw_value)
        if not isinstance(section, str) or not isinstance(name, str) or len(value) > MAX_VALUE:
            raise InvalidRequest("Hyperparameters: a parameter the form did not offer.")
        old = params.setdefault(section, {}).get(name)
        kept = dict(old) if isinstance(old, dict) else {"section": section, "name": name}
        params[section][name] = {**kept, "value": value}
    return params


async def _clone_page(
    request: Request,
    viewer: Viewer,
    source: Task,
    *,
    status_code: int = 200,
    message: str = "",
    form: dict[str, Any] | None = None,
) -> Response:
    ui = ui_of(request)
    projects = await ui.services.tracking.experiments.project_reads.all(viewer.principal)
    queues = await ui.services.queues.reads.all(viewer.principal, with_entries=False)
    rows = param_rows(source)
    for row in rows:
        row["value"] = (form or {}).get(row["key"], row["value"])
    return ui.render(request, "experiments_clone.html", viewer, status_code, task=source,
                     params=rows, projects=sorted(projects, key=lambda p: p.name.lower()),
                     queues=queues, message=message, form=form or {})  # fmt: skip


@page
async def clone_page(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    source = await ui.services.tracking.experiments.task_reads.get(
        viewer.principal, _task_id(request)
    )
    return await _clone_page(request, viewer, source)


@mutation
async def clone(request: Request, viewer: Viewer) -> Response:
    """A clone of the task (name, project, hyperparameters as the form says; the source's
    otherwise), enqueued when the form names a queue."""
    ui = ui_of(request)
    form = await request.form()
    experiments = ui.services.tracking.experiments
    source = await experiments.task_reads.get(viewer.principal, _task_id(request))
    queue = str(form.get("queue") or "")
    try:
        if queue:  # checked first: a refused queue leaves no clone behind
            await ui.services.queues.reads.get(viewer.principal, queue)
        name = check_name(str(form.get("name") or "") or f"Clone of {source.name}")
        overrides: dict[str, Any] = {"name": name,
                                     "hyperparams": edited_hyperparams(source, form)}  # fmt: skip
        if form.get("project"):
            overrides["project"] = str(form["project"])
        new_id = await experiments.tasks.clone(viewer.principal, source.id, overrides=overrides)
    except HangarError as exc:
        kept = dict(zip(map(str, form.getlist("param_key")), map(str, form.getlist("param_value")),
                        strict=False))  # fmt: skip
        return await _clone_page(request, viewer, source, status_code=status_of(exc),
                                 message=str(exc) or exc.code, form=kept)  # fmt: skip
    if queue:
        await ui.services.queues.queueing.enqueue(viewer.principal, new_id, queue_id=queue)
    return _back(request, new_id)


routes = [
    Route("/experiments/tasks/{task_id}/reset", reset, methods=["POST"]),
    Route("/experiments/tasks/{task_id}/archive", archive, methods=["POST"]),
    Route("/experiments/tasks/{task_id}/publish", publish, methods=["POST"]),
    Route("/experiments/tasks/{task_id}/move", move, methods=["POST"]),
    Route("/experiments/tasks/{task_id}/clone", clone_page, methods=["GET"]),
    Route("/experiments/tasks/{task_id}/clone", clone, methods=["POST"]),
]
