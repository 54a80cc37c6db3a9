"""``projects.*``: create, read, query (with task statistics), update, delete."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import Field

from hangar.api.clearml import query
from hangar.api.clearml.endpoints.tasks import cleaned_fields, experiments
from hangar.api.clearml.query import rendered
from hangar.api.clearml.registry import Call, endpoint
from hangar.api.clearml.tasks_wire import PROJECTS, Body, fields_of
from hangar.core.tracking import query as q
from hangar.core.tracking.contracts import Cleaned
from hangar.core.tracking.tasks.service import Deleted


def project_object(doc: dict[str, Any]) -> dict[str, Any]:
    out = rendered(doc)
    assert isinstance(out, dict)
    return out


class CreateRequest(Body):
    name: str
    description: str = ""
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    default_output_destination: str | None = None


@endpoint("projects.create")
async def create(call: Call) -> dict[str, Any]:
    body = call.parse(CreateRequest)
    project_id = await experiments(call).projects.create(
        call.principal, body.name, description=body.description, tags=body.tags,
        system_tags=body.system_tags,
        default_output_destination=body.default_output_destination,
    )  # fmt: skip
    return {"id": project_id}


class ProjectRequest(Body):
    project: str


@endpoint("projects.get_by_id")
async def get_by_id(call: Call) -> dict[str, Any]:
    body = call.parse(ProjectRequest)
    project = await experiments(call).project_reads.get(call.principal, body.project)
    return {"project": project_object(project.document())}


def _shallow(call: Call, parsed: q.Query) -> q.Query:
    """``shallow_search``: only one level, the top one unless ``parent`` names another."""
    if not call.body.get("shallow_search") or call.body.get("parent") is not None:
        return parsed
    return q.Query((*parsed.conditions, q.Equals("parent", None)), *_rest(parsed))


def _rest(parsed: q.Query) -> tuple[Any, ...]:
    return parsed.order, parsed.offset, parsed.limit, parsed.fields


async def _search(call: Call, *, stats: bool) -> dict[str, Any]:
    parsed, next_scroll = query.parse(PROJECTS, call.body)
    parsed = _shallow(call, parsed)
    exp = experiments(call)
    docs = await exp.project_reads.search(call.principal, parsed, ids=query.ids_of(call.body, "id"))
    projects = [project_object(d) for d in docs]
    if stats and call.body.get("include_stats"):
        await _add_stats(call, projects)
    answer: dict[str, Any] = {"projects": projects}
    if next_scroll is not None:
        answer["scroll_id"] = query.scroll_id(next_scroll)
    return answer


async def _add_stats(call: Call, projects: list[dict[str, Any]]) -> None:
    exp = experiments(call)
    children = call.body.get("stats_with_children", True) is not False
    found = await exp.project_reads.stats(
        call.principal, [p["id"] for p in projects], children=children
    )
    state = call.body.get("stats_for_state", "active")
    visible = await exp.project_reads.all(call.principal)
    for project in projects:
        per_state = found.get(project["id"], {})
        wanted = per_state if state is None else {k: v for k, v in per_state.items()
                                                  if k == state}  # fmt: skip
        project["stats"] = {k: rendered(asdict(v)) for k, v in wanted.items()}
        project["sub_projects"] = [{"id": p.id, "name": p.name} for p in visible
                                   if p.parent == project["id"]]  # fmt: skip


@endpoint("projects.get_all")
async def get_all(call: Call) -> dict[str, Any]:
    return await _search(call, stats=False)


@endpoint("projects.get_all_ex")
async def get_all_ex(call: Call) -> dict[str, Any]:
    return await _search(call, stats=True)


class UpdateRequest(ProjectRequest):
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    default_output_destination: str | None = None


@endpoint("projects.update")
async def update(call: Call) -> dict[str, Any]:
    body = call.parse(UpdateRequest)
    changes = body.model_dump(exclude_unset=True, exclude={"project"})
    values = await experiments(call).projects.update(
        call.principal, body.project, {k: v for k, v in changes.items() if v is not None}
    )
    return {"updated": 1, "fields": fields_of(values)}


class DeleteRequest(ProjectRequest):
    force: bool = False
    delete_contents: bool = False
    return_file_urls: bool = False


@endpoint("projects.delete")
async def delete(call: Call) -> dict[str, Any]:
    """Deletes a project without sub-projects; with ``delete_contents`` its tasks go too
    (their events, models and files with them), else ``force`` leaves them project-less."""
    body = call.parse(DeleteRequest)
    exp = experiments(call)
    await exp.project_reads.get(call.principal, body.project)
    gone = Deleted([], 0, Cleaned())
    if body.delete_contents:
        docs = await exp.task_reads.search(
            call.principal, q.Query(fields=("id",)), projects=[body.project]
        )
        if docs:
            gone = await exp.tasks.delete(call.principal, [d["id"] for d in docs], force=True)
    force = body.force or body.delete_contents
    counts = await exp.projects.delete(call.principal, body.project, force=force)
    cleaned = cleaned_fields(call, gone.cleaned, gone.tasks, urls=body.return_file_urls)
    return {**counts, "deleted_models": gone.cleaned.models, "deleted_tasks": len(gone.tasks),
            "urls": cleaned["urls"]}  # fmt: skip


class ProjectsRequest(Body):
    projects: list[str] | None = None


@endpoint("projects.get_task_tags")
async def get_task_tags(call: Call) -> dict[str, Any]:
    """The tags and system tags in use on the caller's tasks (of ``projects`` if given)."""
    body = call.parse(ProjectsRequest)
    docs = await experiments(call).task_reads.search(
        call.principal, q.Query(fields=("tags", "system_tags")), projects=body.projects
    )
    tags = {t for d in docs for t in d.get("tags") or []}
    system_tags = {t for d in docs for t in d.get("system_tags") or []}
    return {"tags": sorted(tags), "system_tags": sorted(system_tags)}


class HyperParametersRequest(ProjectRequest):
    page: int = Field(default=0, ge=0)
    page_size: int = Field(default=500, ge=1, le=query.MAX_PAGE_SIZE)
    include_subprojects: bool = True


@endpoint("projects.get_hyper_parameters")
async def get_hyper_parameters(call: Call) -> dict[str, Any]:
    """The (section, name) pairs of the hyperparameters of a project's tasks, paged."""
    body = call.parse(HyperParametersRequest)
    exp = experiments(call)
    await exp.project_reads.get(call.principal, body.project)
    projects = {body.project}
    if body.include_subprojects:
        visible = await exp.project_reads.all(call.principal)
        while more := {p.id for p in visible if p.parent in projects} - projects:
            projects |= more
    docs = await exp.task_reads.search(
        call.principal, q.Query(fields=("hyperparams",)), projects=sorted(projects)
    )
    pairs = sorted({(section, name) for d in docs
                    for section, params in (d.get("hyperparams") or {}).items()
                    for name in params})  # fmt: skip
    start = body.page * body.page_size
    page = pairs[start : start + body.page_size]
    return {
        "parameters": [{"section": s, "name": n} for s, n in page],
        "total": len(pairs),
        "remaining": max(0, len(pairs) - start - len(page)),
    }
