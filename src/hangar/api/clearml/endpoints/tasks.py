"""``tasks.*``: create, read, query, edit, status moves, reset, clone, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from hangar.api.clearml import query
from hangar.api.clearml.registry import Call, endpoint
from hangar.api.clearml.tasks_wire import (
    TASKS,
    Body,
    StatusRequest,
    TaskFields,
    TaskRequest,
    fields_of,
    task_object,
)
from hangar.core.tracking.contracts import Cleaned, Keep
from hangar.core.tracking.tasks.experiments import Experiments
from hangar.core.tracking.tasks.models import Task
from hangar.core.tracking.tasks.service import Changed
from hangar.core.tracking.tasks.states import TaskStatus


def experiments(call: Call) -> Experiments:
    return call.services.tracking.experiments


def answer(changed: Changed, **extra: Any) -> dict[str, Any]:
    return {"updated": changed.updated, "fields": fields_of(changed.values), **extra}


class CreateRequest(TaskFields):
    """name and type are required here (optional in edits)."""

    name: str
    type: str


@endpoint("tasks.create")
async def create(call: Call) -> dict[str, Any]:
    body = call.parse(CreateRequest)
    changes = body.changes()
    plain = {k: changes.pop(k) for k in ("comment", "parent", "tags", "system_tags")
             if k in changes}  # fmt: skip
    for name in ("name", "type", "project"):
        changes.pop(name, None)
    task_id = await experiments(call).tasks.create(
        call.principal, name=body.name, type=body.type, project=body.project,
        documents=changes, **plain,
    )  # fmt: skip
    return {"id": task_id}


@endpoint("tasks.get_by_id")
async def get_by_id(call: Call) -> dict[str, Any]:
    body = call.parse(TaskRequest)
    task = await experiments(call).task_reads.get(call.principal, body.task)
    return {"task": task_object(task.document())}


async def _search(call: Call) -> dict[str, Any]:
    body = call.body
    projects = query.ids_of(body, "project")
    if projects is not None and body.get("include_subprojects"):
        projects = await _with_subprojects(call, projects)
        body = {**body, "project": projects}
    parsed, next_scroll = query.parse(TASKS, body)
    docs = await experiments(call).task_reads.search(
        call.principal, parsed, ids=query.ids_of(body, "id"), projects=projects
    )
    answer: dict[str, Any] = {
        "tasks": [task_object(d, projected=parsed.fields is not None) for d in docs]
    }
    if next_scroll is not None:
        answer["scroll_id"] = query.scroll_id(next_scroll)
    return answer


async def _with_subprojects(call: Call, projects: list[str]) -> list[str]:
    visible = await experiments(call).project_reads.all(call.principal)
    wanted, grown = set(projects), True
    while grown:
        more = {p.id for p in visible if p.parent in wanted} - wanted
        wanted |= more
        grown = bool(more)
    return sorted(wanted)


@endpoint("tasks.get_all")
async def get_all(call: Call) -> dict[str, Any]:
    return await _search(call)


@endpoint("tasks.get_all_ex")
async def get_all_ex(call: Call) -> dict[str, Any]:
    return await _search(call)


class EditRequest(TaskFields):
    task: str
    force: bool = False


@endpoint("tasks.edit")
async def edit(call: Call) -> dict[str, Any]:
    body = call.parse(EditRequest)
    changed = await experiments(call).tasks.edit(
        call.principal, body.task, body.changes(), force=body.force
    )
    return answer(changed)


class UpdateRequest(Body):
    task: str
    name: str | None = None
    comment: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    project: str | None = None


@endpoint("tasks.update")
async def update(call: Call) -> dict[str, Any]:
    body = call.parse(UpdateRequest)
    changes = body.model_dump(exclude_unset=True, exclude={"task"})
    changed = await experiments(call).tasks.update(
        call.principal, body.task, {k: v for k, v in changes.items() if v is not None}
    )
    return answer(changed)


@endpoint("tasks.started")
async def started(call: Call) -> dict[str, Any]:
    body = call.parse(StatusRequest)
    changed = await experiments(call).tasks.started(call.principal, body.task, **body.how())
    return answer(changed, started=changed.updated)


async def _finish(call: Call, status: TaskStatus) -> dict[str, Any]:
    body = call.parse(StatusRequest)
    changed = await experiments(call).tasks.finished(
        call.principal, body.task, status, **body.how()
    )
    return answer(changed)


@endpoint("tasks.stopped")
async def stopped(call: Call) -> dict[str, Any]:
    return await _finish(call, TaskStatus.STOPPED)


@endpoint("tasks.failed")
async def failed(call: Call) -> dict[str, Any]:
    return await _finish(call, TaskStatus.FAILED)


@endpoint("tasks.close")
async def close(call: Call) -> dict[str, Any]:
    return await _finish(call, TaskStatus.CLOSED)


class CompletedRequest(StatusRequest):
    publish: bool = False


@endpoint("tasks.completed")
async def completed(call: Call) -> dict[str, Any]:
    body = call.parse(CompletedRequest)
    tasks = experiments(call).tasks
    changed = await tasks.finished(call.principal, body.task, TaskStatus.COMPLETED, **body.how())
    if not body.publish:
        return answer(changed, published=0)
    published = await _publish(call, body.task, reason=body.status_reason)
    return answer(changed, published=published.updated)


async def _publish(call: Call, task_id: str, *, models: bool = True, **how: Any) -> Changed:
    """The task, then (``models``) its output models, as the reference server does."""
    changed = await experiments(call).tasks.publish(call.principal, task_id, **how)
    if models:
        await call.services.tracking.models.tasks_published([task_id])
    return changed


class PublishRequest(StatusRequest):
    publish_model: bool = True


@endpoint("tasks.publish")
async def publish(call: Call) -> dict[str, Any]:
    body = call.parse(PublishRequest)
    return answer(await _publish(call, body.task, models=body.publish_model, **body.how()))


@endpoint("tasks.ping")
async def ping(call: Call) -> dict[str, Any]:
    body = call.parse(TaskRequest)
    await experiments(call).tasks.ping(call.principal, body.task)
    return {}


def cleaned_fields(
    call: Call, cleaned: Cleaned, tasks: Sequence[Task], *, urls: bool
) -> dict[str, Any]:
    """What went with a task's run, as the reference answers it: the events deleted, the
    output models deleted and (``return_file_urls``) the urls of its debug images, deleted
    models' weights, and its output artifacts and other stored files."""
    if not urls:
        return {"events": {"deleted": cleaned.events}, "deleted_models": cleaned.models,
                "urls": {}}  # fmt: skip
    files = f"{str(call.request.base_url).rstrip('/')}/files/"
    named = {*cleaned.event_urls, *cleaned.model_urls}
    artifacts = [a["uri"] for task in tasks for a in task.execution.get("artifacts") or []
                 if isinstance(a, dict) and a.get("mode") == "output" and a.get("uri")]  # fmt: skip
    stored = [files + quote(key) for key in cleaned.files]
    found = {
        "event_urls": list(cleaned.event_urls),
        "artifact_urls": list(dict.fromkeys(u for u in [*artifacts, *stored] if u not in named)),
        "model_urls": list(cleaned.model_urls),
    }
    return {"events": {"deleted": cleaned.events}, "deleted_models": cleaned.models,
            "urls": found}  # fmt: skip


class CleanupRequest(TaskRequest):
    force: bool = False
    return_file_urls: bool = False
    delete_output_models: bool = True
    delete_external_artifacts: bool = True

    def keep(self) -> Keep:
        return Keep(models=not self.delete_output_models, files=not self.delete_external_artifacts)


class ResetRequest(CleanupRequest):
    clear_all: bool = False


@endpoint("tasks.reset")
async def reset(call: Call) -> dict[str, Any]:
    body = call.parse(ResetRequest)
    changed = await experiments(call).tasks.reset(
        call.principal, body.task, force=body.force, clear_all=body.clear_all, keep=body.keep()
    )
    cleaned = cleaned_fields(call, changed.cleaned, [changed.task], urls=body.return_file_urls)
    return answer(changed, dequeued={}, **cleaned)


@endpoint("tasks.delete")
async def delete(call: Call) -> dict[str, Any]:
    body = call.parse(CleanupRequest)
    deleted = await experiments(call).tasks.delete(
        call.principal, [body.task], force=body.force, keep=body.keep()
    )
    cleaned = cleaned_fields(call, deleted.cleaned, deleted.tasks, urls=body.return_file_urls)
    kept = len(deleted.cleaned.kept_models)
    return {"deleted": True, "updated_children": deleted.children, "updated_models": kept,
            **cleaned}  # fmt: skip


class CloneRequest(TaskRequest):
    new_task_name: str | None = None
    new_task_comment: str | None = None
    new_task_tags: list[str] | None = None
    new_task_system_tags: list[str] | None = None
    new_task_parent: str | None = None
    new_task_project: str | None = None
    new_project_name: str | None = None
    new_task_hyperparams: dict[str, dict[str, dict[str, Any]]] | None = None
    new_task_configuration: dict[str, dict[str, Any]] | None = None
    new_task_container: dict[str, str | None] | None = None
    execution_overrides: dict[str, Any] | None = None


@endpoint("tasks.clone")
async def clone(call: Call) -> dict[str, Any]:
    body = call.parse(CloneRequest)
    exp = experiments(call)
    given = body.model_dump(exclude_unset=True)
    overrides = {key.removeprefix("new_task_"): value for key, value in given.items()
                 if key.startswith("new_task_") and value is not None}  # fmt: skip
    if body.execution_overrides is not None:
        overrides["execution"] = body.execution_overrides
    answer: dict[str, Any] = {}
    if body.new_project_name:
        project_id = await exp.projects.create(call.principal, body.new_project_name, exist_ok=True)
        overrides["project"] = project_id
        answer["new_project"] = {"id": project_id, "name": body.new_project_name}
    task_id = await exp.tasks.clone(call.principal, body.task, overrides=overrides)
    return {"id": task_id, **answer}
