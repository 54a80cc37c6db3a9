"""Projects: path-like names ("a/b/c") whose missing parents are created with them.

A project name is unique among its owner's projects in a domain, so two users who each start
"demo" get a project each and neither sees the other's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from hangar.core.clock import Clock
from hangar.core.errors import InvalidRequest
from hangar.core.principal import Principal
from hangar.core.scoped import Database
from hangar.core.tracking.tasks import repo
from hangar.core.tracking.tasks.models import (
    ARCHIVED,
    Project,
    ProjectExists,
    ProjectNotEmpty,
    ProjectNotFound,
    Task,
    new_id,
    project_path,
)
from hangar.core.tracking.tasks.states import FINISHED, TaskStatus
from hangar.db.engine import engine_of

UPDATABLE = frozenset({"name", "description", "tags", "system_tags", "default_output_destination"})


class ProjectService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._engine = engine_of(db)
        self._clock = clock

    async def create(
        self,
        principal: Principal,
        name: str,
        *,
        description: str = "",
        tags: list[str] | None = None,
        system_tags: list[str] | None = None,
        default_output_destination: str | None = None,
        exist_ok: bool = False,
    ) -> str:
        """A new project (and its missing parents); returns its id. An existing name is
        ProjectExists, or its id with ``exist_ok``."""
        parts = project_path(name)
        full = [("/".join(parts[: i + 1]), part) for i, part in enumerate(parts)]
        try:
            async with self._engine.begin() as db:
                existing = await repo.own_projects_named(db, principal, [f for f, _ in full])
                if full[-1][0] in existing:
                    if exist_ok:
                        return existing[full[-1][0]].id
                    raise ProjectExists(f"Project {full[-1][0]!r} already exists")
                parent: str | None = None
                now = self._clock.now()
                for path, basename in full:
                    if path in existing:
                        parent = existing[path].id
                        continue
                    last = path == full[-1][0]
                    parent = await self._insert(db, principal, path, basename, parent, now, dict(
                        description=description if last else "",
                        tags=list(tags or []) if last else [],
                        system_tags=list(system_tags or []) if last else [],
                        default_output_destination=default_output_destination if last else None,
                    ))  # fmt: skip
                assert parent is not None
                return parent
        except IntegrityError:  # created meanwhile by a concurrent request
            if exist_ok:
                return await self.create(principal, name, exist_ok=True)
            raise ProjectExists(f"Project {name!r} already exists") from None

    async def _insert(
        self,
        db: Any,
        principal: Principal,
        path: str,
        basename: str,
        parent: str | None,
        now: datetime,
        extra: Mapping[str, Any],
    ) -> str:
        project_id = new_id()
        await repo.insert_project(db, dict(
            id=project_id, domain_name=principal.domain_name, user_uuid=principal.user_uuid,
            name=path, basename=basename, parent_id=parent, created=now, last_update=now,
            **extra,
        ))  # fmt: skip
        return project_id

    async def update(
        self, principal: Principal, project_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Changes description, tags, ...; a new name keeps the project's place."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise InvalidRequest(f"Fields that cannot be updated: {', '.join(sorted(unknown))}")
        values = dict(changes)
        async with self._engine.begin() as db:
            found = await repo.projects(db, principal, ids=[project_id])
            if not found:
                raise ProjectNotFound(project_id)
            if "name" in values:
                parts = project_path(values["name"])
                values["name"], values["basename"] = "/".join(parts), parts[-1]
            values["last_update"] = self._clock.now()
            try:
                await repo.update_project(db, project_id, values)
            except IntegrityError:
                raise ProjectExists(f"Project {values['name']!r} already exists") from None
        return values

    async def delete(self, principal: Principal, project_id: str, *, force: bool) -> dict[str, int]:
        """Deletes a project without sub-projects; its tasks (forced) lose their project."""
        async with self._engine.begin() as db:
            if not await repo.projects(db, principal, ids=[project_id]):
                raise ProjectNotFound(project_id)
            if await repo.project_children(db, [project_id]):
                raise ProjectNotEmpty("The project has sub-projects")
            counts = await repo.tasks_per_project(db, [project_id])
            if counts.get(project_id) and not force:
                raise ProjectNotEmpty()
            await repo.delete_projects(db, [project_id])
        return {"deleted": 1, "disassociated_tasks": counts.get(project_id, 0)}


@dataclass
class StatusStats:
    """Task statistics of a project for one state (active or archived)."""

    status_count: dict[str, int] = field(
        default_factory=lambda: {s.value: 0 for s in TaskStatus if s is not TaskStatus.UNKNOWN}
    )
    total_tasks: int = 0
    total_runtime: int = 0
    completed_tasks_24h: int = 0
    last_task_run: datetime | None = None

    def add(self, task: Task, now: datetime) -> None:
        self.status_count[task.status.value] = self.status_count.get(task.status.value, 0) + 1
        self.total_tasks += 1
        if task.status in FINISHED and task.started and task.completed:
            self.total_runtime += int((task.completed - task.started).total_seconds())
            if task.completed >= now - timedelta(hours=24):
                self.completed_tasks_24h += 1
        if task.started and (self.last_task_run is None or task.started > self.last_task_run):
            self.last_task_run = task.started


def project_stats(
    projects: Collection[Project], tasks: Collection[Task], now: datetime, *, children: bool
) -> dict[str, dict[str, StatusStats]]:
    """Per project id: {"active": stats, "archived": stats}; ``children`` adds each task to
    every ancestor project too."""
    parents = {p.id: p.parent for p in projects}
    stats = {p.id: {"active": StatusStats(), "archived": StatusStats()} for p in projects}
    for task in tasks:
        state = "archived" if ARCHIVED in task.system_tags else "active"
        project: str | None = task.project
        while project is not None and project in stats:
            stats[project][state].add(task, now)
            project = parents.get(project) if children else None
    return stats
