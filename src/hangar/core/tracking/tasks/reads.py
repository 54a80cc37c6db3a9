"""Scoped reads of projects and tasks, and the TaskAccess the other tracking parts ask.

A caller sees what :mod:`hangar.core.tracking.tasks.repo` scopes to them; everything else
reads as missing. Lists narrow in SQL by plain columns (ids, projects), then evaluate the
rest of the query on documents (:mod:`hangar.core.tracking.query`).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection
from typing import Any

from hangar.core.principal import Principal
from hangar.core.scoped import Database
from hangar.core.tracking import query as q
from hangar.core.tracking.contracts import MetricsSummaries, TaskId, TaskRef
from hangar.core.tracking.tasks import repo
from hangar.core.tracking.tasks.models import Project, ProjectNotFound, Task, TaskNotFound
from hangar.core.tracking.tasks.projects import StatusStats, project_stats
from hangar.db.engine import engine_of

METRIC_FIELDS = frozenset({"last_metrics", "last_iteration"})


class TaskReads:
    """Tasks as a principal sees them, with their metric summaries."""

    def __init__(self, db: Database, summaries: MetricsSummaries) -> None:
        self._engine = engine_of(db)
        self._summaries = summaries

    async def _with_metrics(self, tasks: list[Task]) -> list[Task]:
        if not tasks:
            return tasks
        found = await self._summaries.summaries([t.id for t in tasks])
        result = []
        for task in tasks:
            summary = found.get(task.id)
            if summary is None:
                result.append(task)
                continue
            result.append(dataclasses.replace(
                task, last_iteration=summary.last_iteration,
                last_metrics=summary.last_metrics,
                last_update=max(task.last_update, summary.last_update or task.last_update),
            ))  # fmt: skip
        return result

    async def get(self, principal: Principal, task_id: str) -> Task:
        """The task with its metrics; TaskNotFound if the principal does not see it."""
        async with self._engine.connect() as db:
            found = await repo.tasks(db, principal, ids=[task_id])
        if not found:
            raise TaskNotFound(task_id)
        return (await self._with_metrics(found))[0]

    async def find(self, principal: Principal, ids: Collection[str]) -> list[Task]:
        """The tasks among ``ids`` the principal sees, without metrics."""
        async with self._engine.connect() as db:
            return await repo.tasks(db, principal, ids=ids)

    async def search(
        self,
        principal: Principal,
        query: q.Query,
        *,
        ids: Collection[str] | None = None,
        projects: Collection[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Task documents matching ``query``, narrowed first to ``ids``/``projects``; only
        the fields the query reads and shows are loaded."""
        shown = {f.split(".", 1)[0] for f in query.fields} if query.fields is not None else None
        loaded = None if shown is None else shown | query.paths() | {"id"}
        async with self._engine.connect() as db:
            docs = await repo.task_documents(db, principal, loaded, ids=ids, project_ids=projects)
        if query.paths() & METRIC_FIELDS:  # filtered or sorted by metrics: all need them
            return q.run(await self._metrics_of(docs), query)
        if shown is not None and not shown & METRIC_FIELDS:
            return q.run(docs, query)
        page = await self._metrics_of(q.run(docs, dataclasses.replace(query, fields=None)))
        return page if query.fields is None else [q.project(d, query.fields) for d in page]

    async def _metrics_of(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``docs`` with last_iteration and last_metrics (last_update the later one)."""
        found = await self._summaries.summaries([d["id"] for d in docs]) if docs else {}
        for doc in docs:
            summary = found.get(doc["id"])
            doc["last_iteration"] = summary.last_iteration if summary else 0
            doc["last_metrics"] = dict(summary.last_metrics) if summary else {}
            later = summary.last_update if summary else None
            if later is not None and "last_update" in doc and later > doc["last_update"]:
                doc["last_update"] = later
        return docs


class TaskDirectory:
    """The TaskAccess the other tracking parts ask: which tasks a principal may read or
    write (write: the same tasks; ClearML lets whoever sees a task report to it)."""

    def __init__(self, db: Database) -> None:
        self._engine = engine_of(db)

    async def readable(self, principal: Principal, ids: Collection[TaskId]) -> dict[str, TaskRef]:
        if not ids:
            return {}
        async with self._engine.connect() as db:
            refs = await repo.task_refs(db, principal, ids)
        return {ref.id: ref for ref in refs}

    async def writable(self, principal: Principal, ids: Collection[TaskId]) -> dict[str, TaskRef]:
        return await self.readable(principal, ids)

    async def owned_by(self, user_uuid: uuid.UUID) -> list[TaskRef]:
        """The tasks the user owns, whoever may see them (for the user's purge)."""
        async with self._engine.connect() as db:
            return await repo.task_refs_owned_by(db, user_uuid)


class ProjectReads:
    def __init__(self, db: Database, clock: Any) -> None:
        self._engine = engine_of(db)
        self._clock = clock

    async def get(self, principal: Principal, project_id: str) -> Project:
        async with self._engine.connect() as db:
            found = await repo.projects(db, principal, ids=[project_id])
        if not found:
            raise ProjectNotFound(project_id)
        return found[0]

    async def search(
        self, principal: Principal, query: q.Query, *, ids: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        async with self._engine.connect() as db:
            found = await repo.projects(db, principal, ids=ids)
        return q.run([p.document() for p in found], query)

    async def all(self, principal: Principal) -> list[Project]:
        async with self._engine.connect() as db:
            return await repo.projects(db, principal)

    async def stats(
        self, principal: Principal, project_ids: Collection[str], *, children: bool = True
    ) -> dict[str, dict[str, StatusStats]]:
        """Task statistics per project (active and archived), sub-projects' tasks counted
        in their ancestors when ``children``."""
        async with self._engine.connect() as db:
            visible = await repo.projects(db, principal)
            tasks = await repo.tasks(db, principal, project_ids=[p.id for p in visible])
        stats = project_stats(visible, tasks, self._clock.now(), children=children)
        return {pid: stats[pid] for pid in project_ids if pid in stats}
