"""Task writes: create, edit, status moves, reset, clone, delete, documents and artifacts.

A write reads the task (scoped to the caller), decides in a pure function, and writes with a
compare-and-set on the task's revision; a lost race is decided again on fresh data, so rules
always hold against what is stored. ``tasks.create`` is one transaction of two statements.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.exc import IntegrityError

from hangar.core.clock import Clock
from hangar.core.errors import InvalidRequest
from hangar.core.principal import Principal
from hangar.core.scoped import Database
from hangar.core.tracking.contracts import KEEP_NOTHING, Cleaned, Keep, KeepingCleanup, TaskRef
from hangar.core.tracking.tasks import fields, repo
from hangar.core.tracking.tasks.models import (
    DEVELOPMENT,
    DOCUMENTS,
    ProjectNotFound,
    Task,
    TaskNotDeletable,
    TaskNotFound,
    TaskType,
    check_name,
    new_id,
)
from hangar.core.tracking.tasks.states import (
    InvalidStatusChange,
    StatusChanged,
    TaskStatus,
    check_move,
    may_edit,
    may_update_fields,
    message_of,
)
from hangar.db.engine import engine_of
from hangar.db.sqlite_inline import inline_writes

Decide = Callable[[Task], dict[str, Any] | None]
# Every lost race means another writer's change landed, so N writers at once need up to
# N attempts; the jittered pause spreads out retries that collide again.
ATTEMPTS = 32


@dataclass(frozen=True, slots=True)
class Changed:
    """What a write did: the task before it and the fields it wrote (empty: nothing);
    ``cleaned``: what went with the run (tasks.reset)."""

    task: Task
    values: dict[str, Any]
    cleaned: Cleaned = field(default_factory=Cleaned)

    @property
    def updated(self) -> int:
        return 1 if self.values else 0


@dataclass(frozen=True, slots=True)
class Deleted:
    """What ``delete`` did: the tasks, how many children lost their parent, what went too."""

    tasks: list[Task]
    children: int
    cleaned: Cleaned


def check_type(value: str) -> str:
    try:
        return TaskType(value).value
    except ValueError:
        raise InvalidRequest(f"Invalid task type: {value!r}") from None


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    return {fields.COLUMNS.get(name, name): value for name, value in values.items()}


def ref_of(task: Task, project_name: str = "") -> TaskRef:
    return TaskRef(task.id, task.name, task.project, project_name, str(task.user), task.company)


class TaskService:
    """Changes tasks on behalf of a principal who may see them."""

    def __init__(self, db: Database, clock: Clock, cleanup: KeepingCleanup) -> None:
        self._engine = engine_of(db)
        self._clock = clock
        self._cleanup = cleanup

    async def create(
        self,
        principal: Principal,
        *,
        name: str,
        type: str,
        project: str | None = None,
        documents: Mapping[str, Any] | None = None,
        **plain: Any,
    ) -> str:
        """A new task in status created; returns its id. ``documents`` are the JSON fields
        (execution, script, ...); ``plain`` are comment, parent, tags, system_tags."""
        now = self._clock.now()
        docs = {name: dict((documents or {}).get(name) or {}) for name in DOCUMENTS}
        docs["execution"].setdefault("artifacts", [])
        docs["models"] = {"input": [], "output": [], **docs["models"]}
        task_id = new_id()
        values = dict(
            id=task_id, domain_name=principal.domain_name, user_uuid=principal.user_uuid,
            project_id=project, name=check_name(name), type=check_type(type),
            status=TaskStatus.CREATED.value, status_reason="", status_message="",
            status_changed=now, comment=plain.get("comment") or "",
            parent_id=plain.get("parent"), tags=list(plain.get("tags") or []),
            system_tags=list(plain.get("system_tags") or []), created=now, last_update=now,
            last_change=now, **docs,
        )  # fmt: skip
        try:  # one row by its key: a short write, on the loop's thread (SQLite)
            with inline_writes():
                async with self._engine.begin() as conn:
                    await self._check_refs(conn, principal, project, plain.get("parent"))
                    await repo.insert_task(conn, values)
        except IntegrityError:  # the project was deleted meanwhile
            raise ProjectNotFound(project or "") from None
        return task_id

    async def _check_refs(
        self, db: Any, principal: Principal, project: str | None, parent: str | None
    ) -> None:
        if project is not None and not await repo.project_visible(db, principal, project):
            raise ProjectNotFound(project)
        await self._check_parent(db, principal, parent)

    async def _check_project(self, db: Any, principal: Principal, project: str) -> None:
        if not await repo.projects(db, principal, ids=[project]):
            raise ProjectNotFound(project)

    async def _check_parent(self, db: Any, principal: Principal, parent: str | None) -> None:
        """A parent must be a task the principal sees."""
        if parent is not None and not await repo.task_visible(db, principal, parent):
            raise TaskNotFound(parent)

    async def change(self, principal: Principal, task_id: str, decide: Decide) -> Changed:
        """Applies ``decide(task)`` (the values to write, or None) with a compare-and-set on
        the task's revision, deciding again after a lost race."""
        for attempt in range(ATTEMPTS):
            try:
                changed = await self._attempt(principal, task_id, decide)
            except IntegrityError:  # a project named by the change was deleted meanwhile
                raise ProjectNotFound("(deleted)") from None
            if changed is not None:
                return changed
            await asyncio.sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))  # noqa: S311
        raise StatusChanged()

    async def _attempt(self, principal: Principal, task_id: str, decide: Decide) -> Changed | None:
        async with self._engine.begin() as db:
            try:
                task, revision = await repo.task_revision(db, principal, task_id)
            except LookupError:
                raise TaskNotFound(task_id) from None
            values = decide(task)
            if not values:
                return Changed(task, {})
            if values.get("project") is not None:
                await self._check_project(db, principal, values["project"])
            await self._check_parent(db, principal, values.get("parent"))
            now = self._clock.now()
            stamped = {"last_update": now, "last_change": now, **values}
            if await repo.update_task(db, task_id, revision, _columns(stamped)):
                return Changed(task, stamped)
            return None

    async def edit(
        self, principal: Principal, task_id: str, changes: Mapping[str, Any], *, force: bool
    ) -> Changed:
        """``tasks.edit``: objects merged key by key, other fields replaced; only a created
        task unless forced."""
        if "name" in changes:
            changes = {**changes, "name": check_name(changes["name"])}
        if "type" in changes:
            changes = {**changes, "type": check_type(changes["type"])}

        def decide(task: Task) -> dict[str, Any]:
            if not may_edit(task.status, force=force):
                raise InvalidStatusChange(
                    f"Task is in status {task.status.value}; edit it with force"
                )
            return fields.merged(task, changes)

        return await self.change(principal, task_id, decide)

    async def update(
        self, principal: Principal, task_id: str, changes: Mapping[str, Any]
    ) -> Changed:
        """``tasks.update``: plain fields (name, tags, comment, project, ...) in any status."""
        return await self.edit(principal, task_id, changes, force=True)

    async def move(
        self,
        principal: Principal,
        task_id: str,
        new: TaskStatus,
        *,
        force: bool = False,
        reason: str | None = None,
        message: str | None = None,
        extra: Callable[[Task], dict[str, Any]] | None = None,
    ) -> Changed:
        """A status move by the table (or forced); ``extra`` adds values for the task."""

        def decide(task: Task) -> dict[str, Any]:
            check_move(task.status, new, force=force)
            now = self._clock.now()
            values: dict[str, Any] = {
                "status": new.value, "status_reason": reason or "",
                "status_message": message_of(task.status, task.status_message, new, message or ""),
                "status_changed": now,
            }  # fmt: skip
            if extra is not None:
                values.update(extra(task))
            return values

        return await self.change(principal, task_id, decide)

    async def started(self, principal: Principal, task_id: str, **how: Any) -> Changed:
        now = self._clock.now()
        return await self.move(
            principal, task_id, TaskStatus.IN_PROGRESS,
            extra=lambda t: {"started": t.started or now, "completed": None}, **how,
        )  # fmt: skip

    async def finished(
        self, principal: Principal, task_id: str, new: TaskStatus, **how: Any
    ) -> Changed:
        """stopped / completed / failed / closed: the end time and the run's duration."""
        now = self._clock.now()

        def extra(task: Task) -> dict[str, Any]:
            values: dict[str, Any] = {"completed": now}
            if task.started is not None:
                values["active_duration"] = int((now - task.started).total_seconds())
            return values

        return await self.move(principal, task_id, new, extra=extra, **how)

    async def publish(self, principal: Principal, task_id: str, **how: Any) -> Changed:
        now = self._clock.now()
        return await self.move(
            principal, task_id, TaskStatus.PUBLISHED, extra=lambda t: {"published": now}, **how
        )

    async def ping(self, principal: Principal, task_id: str) -> None:
        async with self._engine.begin() as db:
            if not await repo.tasks(db, principal, ids=[task_id]):
                raise TaskNotFound(task_id)
            await repo.touch(db, task_id, self._clock.now())

    async def set_requirements(
        self, principal: Principal, task_id: str, requirements: Mapping[str, Any]
    ) -> Changed:
        return await self.change(
            principal, task_id,
            lambda t: {"script": {**t.script, "requirements": dict(requirements)}},
        )  # fmt: skip

    async def reset(
        self,
        principal: Principal,
        task_id: str,
        *,
        force: bool,
        clear_all: bool = False,
        keep: Keep = KEEP_NOTHING,
    ) -> Changed:
        """Back to created, with the run's traces gone: times, runtime, output models,
        output artifacts, the queue, and (through the cleanup) its events and files, but
        for what ``keep`` says."""

        def decide(task: Task) -> dict[str, Any]:
            if task.status in (TaskStatus.PUBLISHED, TaskStatus.PUBLISHING) and not force:
                raise InvalidStatusChange(f"Cannot reset a {task.status.value} task")
            execution = {k: v for k, v in task.execution.items() if k != "queue"}
            keep = [] if clear_all else [a for a in fields.artifacts_of(task)
                                         if a.get("mode") == "input"]  # fmt: skip
            execution["artifacts"] = keep
            inputs = [] if clear_all else list(task.models.get("input") or [])
            now = self._clock.now()
            return {
                "status": TaskStatus.CREATED.value, "status_reason": "reset",
                "status_message": "reset", "status_changed": now, "started": None,
                "completed": None, "published": None, "active_duration": None,
                "enqueue_status": None, "runtime": {}, "execution": execution,
                "models": {**task.models, "input": inputs, "output": []},
            }  # fmt: skip

        changed = await self.change(principal, task_id, decide)
        cleaned = await self._cleanup.tasks_deleted(
            [ref_of(changed.task)], replace(keep, gone=False)
        )
        return replace(changed, cleaned=cleaned or Cleaned())

    async def clone(
        self, principal: Principal, task_id: str, *, overrides: Mapping[str, Any]
    ) -> str:
        """A new created task from ``task_id``'s definition; ``overrides`` replace fields."""
        async with self._engine.connect() as db:
            found = await repo.tasks(db, principal, ids=[task_id])
        if not found:
            raise TaskNotFound(task_id)
        source = found[0]
        execution = {k: v for k, v in source.execution.items() if k != "queue"}
        execution["artifacts"] = [a for a in fields.artifacts_of(source)
                                  if a.get("mode") == "input"]  # fmt: skip
        documents: dict[str, Any] = {name: getattr(source, name) for name in DOCUMENTS}
        documents.update(
            execution=execution,
            runtime={},
            models={"input": source.models.get("input") or [], "output": []},
        )
        for name in ("hyperparams", "configuration", "container"):
            if overrides.get(name) is not None:
                documents[name] = overrides[name]
        if overrides.get("execution") is not None:
            documents["execution"] = {**execution, **overrides["execution"]}
        system_tags = [t for t in source.system_tags if t != DEVELOPMENT]
        return await self.create(
            principal, name=overrides.get("name") or f"Clone Of {source.name}",
            type=source.type, project=overrides.get("project", source.project),
            documents=documents, comment=overrides.get("comment", source.comment),
            parent=overrides.get("parent", source.id),
            tags=overrides.get("tags", source.tags),
            system_tags=overrides.get("system_tags", system_tags),
        )  # fmt: skip

    async def delete(
        self,
        principal: Principal,
        task_ids: Collection[str],
        *,
        force: bool,
        keep: Keep = KEEP_NOTHING,
    ) -> Deleted:
        """Deletes the tasks (only created ones unless forced), then tells the cleanup so
        their events, models and files go (but for what ``keep`` says)."""
        async with self._engine.begin() as db:
            found = await repo.tasks(db, principal, ids=task_ids)
            missing = set(task_ids) - {t.id for t in found}
            if missing:
                raise TaskNotFound(sorted(missing)[0])
            if not force and any(t.status is not TaskStatus.CREATED for t in found):
                raise TaskNotDeletable()
            ids = [t.id for t in found]
            children = await repo.clear_parent(db, ids)
            await repo.delete_tasks(db, ids)
        cleaned = await self._cleanup.tasks_deleted([ref_of(t) for t in found], keep)
        return Deleted(found, children, cleaned or Cleaned())

    async def update_fields(
        self,
        principal: Principal,
        task_id: str,
        change: Decide,
        *,
        force: bool,
        any_status: bool = False,
    ) -> Changed:
        """A field update (artifacts, hyperparameters, configuration): created, or in
        progress with force; ``any_status`` lifts that (the ``properties`` section)."""

        def decide(task: Task) -> dict[str, Any] | None:
            if not any_status and not may_update_fields(task.status, force=force):
                raise InvalidStatusChange(
                    f"Task is in status {task.status.value}; it cannot be changed"
                )
            return change(task)

        return await self.change(principal, task_id, decide)
