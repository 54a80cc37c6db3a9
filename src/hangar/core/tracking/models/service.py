"""Models: create, change, publish, archive, delete, list; who may do what.

A user sees the models they own and those filed in a project they may read (admins: their
domain's; superadmins: all); they change only their own (admins: those they see). A model's
task, when named, must be one the user may write; its project one they may read. A ready
(published) model keeps its weights: its URI, design, labels and framework no longer change,
unless forced.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import Conflict, Forbidden, HangarError, InvalidRequest, NotFound
from hangar.core.filters import And, Compare, Filter, Op, Or
from hangar.core.principal import Principal
from hangar.core.tracking import query as q
from hangar.core.tracking.contracts import (
    KEEP_NOTHING,
    Cleaned,
    Keep,
    MetricsSummary,
    TaskAccess,
    TaskRef,
)
from hangar.core.tracking.models import repo
from hangar.core.tracking.models.model import (
    ARCHIVED,
    BatchOutcome,
    MetadataItem,
    Model,
    ModelChanges,
    ModelId,
)
from hangar.db.engine import DbSession

FROZEN_WHEN_READY = ("uri", "design", "labels", "framework")
SQL_NARROWED = ("id", "task", "project")


class Identified(Protocol):
    @property
    def id(self) -> str: ...


class ProjectAccess(Protocol):
    """The projects a principal may read (the tasks part's project reads)."""

    async def all(self, principal: Principal) -> Sequence[Identified]: ...


class ModelEvents(Protocol):
    """Where a model's own events are kept (the metrics part): forgotten with the model."""

    async def models_deleted(self, ids: Collection[ModelId]) -> int: ...


class ModelIsReady(Conflict):
    code = "model-is-ready"
    default_message = "The model is published: its weights and design no longer change."


def model_not_found(model_id: str) -> NotFound:
    return NotFound("model", f"Invalid model id: {model_id}")


class ModelsService:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        tasks: TaskAccess,
        projects: ProjectAccess | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._tasks = tasks
        self._projects = projects
        self._events: ModelEvents | None = None

    def keep_events_in(self, events: ModelEvents) -> None:
        """Wire the part holding models' events (built after this one)."""
        self._events = events

    async def _events_gone(self, ids: Collection[ModelId]) -> None:
        if self._events is not None and ids:
            await self._events.models_deleted(ids)

    async def _readable_projects(self, principal: Principal) -> set[str]:
        if self._projects is None:
            return set()
        return {project.id for project in await self._projects.all(principal)}

    async def _check_refs(self, principal: Principal, changes: ModelChanges) -> None:
        """The task a change names must be writable, its project readable."""
        if changes.task is not None and not await self._tasks.writable(principal, [changes.task]):
            raise NotFound("task", f"Invalid task id: {changes.task}")
        if changes.project is not None and self._projects is not None:
            projects = await self._readable_projects(principal)
            if changes.project not in projects:
                raise NotFound("project", f"Invalid project id: {changes.project}")

    # Reads ---------------------------------------------------------------------------------

    async def _find(self, db: DbSession, principal: Principal, model_id: ModelId) -> Model:
        found = await repo.visible(
            db, principal, await self._readable_projects(principal), ids=[model_id]
        )
        if not found:
            raise model_not_found(model_id)
        return found[0]

    async def get(self, principal: Principal, model_id: ModelId) -> Model:
        """The model. Raises NotFound (unknown or not visible)."""
        async with self._sessions() as db:
            return await self._find(db, principal, model_id)

    async def query(self, principal: Principal, query: q.Query) -> list[dict[str, Any]]:
        """Documents of the visible models that satisfy ``query`` (ordered, paged,
        projected)."""
        narrow = _narrowing(query)
        projects = await self._readable_projects(principal)
        async with self._sessions() as db:
            models = await repo.visible(db, principal, projects, narrow=narrow)
        return q.run((m.document() for m in models), query)

    # Writes --------------------------------------------------------------------------------

    async def create(self, principal: Principal, changes: ModelChanges) -> Model:
        """A new model. Raises InvalidRequest (no name or uri), NotFound (task, project)."""
        if not (changes.name or "").strip():
            raise InvalidRequest("A model needs a name.")
        if changes.uri is None:
            raise InvalidRequest("A model needs a uri.")
        await self._check_refs(principal, changes)
        model_id = uuid.uuid4().hex
        values = changes.given()
        values["name"] = values["name"].strip()
        async with self._sessions() as db, db.begin():
            await repo.insert(
                db, model_id, principal.user_uuid, principal.domain_name, self._clock.now(), values
            )
        return await self.get(principal, model_id)

    async def _own(self, db: DbSession, principal: Principal, model_id: ModelId) -> Model:
        """A model the principal may change: its own, or any it sees as an admin."""
        model = await self._find(db, principal, model_id)
        if not (principal.owns(model.user) or principal.is_admin):
            raise Forbidden("Only the model's owner may change it.")
        return model

    async def edit(
        self, principal: Principal, model_id: ModelId, changes: ModelChanges, *,
        force: bool = False,
    ) -> list[str]:  # fmt: skip
        """Set the given fields; returns their names (those that differ). Raises NotFound,
        Forbidden, ModelIsReady (weights of a published model, without ``force``)."""
        await self._check_refs(principal, changes)
        values = changes.given()
        if "name" in values and not values["name"].strip():
            raise InvalidRequest("A model needs a name.")
        async with self._sessions() as db, db.begin():
            model = await self._own(db, principal, model_id)
            frozen = [f for f in FROZEN_WHEN_READY if f in values]
            changed = [f for f in frozen if _differs(model, f, values[f])]
            if model.ready and changed and not force:
                raise ModelIsReady()
            if not values:
                return []
            await repo.change(db, model_id, self._clock.now(), values)
        return sorted(values)

    async def set_metadata(
        self, principal: Principal, model_id: ModelId, items: Sequence[MetadataItem], *,
        replace_all: bool = False,
    ) -> int:  # fmt: skip
        """Add or update metadata items by key (all others dropped with ``replace_all``)."""
        async with self._sessions() as db, db.begin():
            model = await self._own(db, principal, model_id)
            merged = {} if replace_all else dict(model.metadata)
            merged.update({item.key: item for item in items})
            await repo.change(db, model_id, self._clock.now(), {"metadata": tuple(merged.values())})
        return 1

    async def delete_metadata(
        self, principal: Principal, model_id: ModelId, keys: Collection[str]
    ) -> int:
        async with self._sessions() as db, db.begin():
            model = await self._own(db, principal, model_id)
            kept = tuple(m for k, m in model.metadata.items() if k not in set(keys))
            if len(kept) == len(model.metadata):
                return 0
            await repo.change(db, model_id, self._clock.now(), {"metadata": kept})
        return 1

    async def set_ready(self, principal: Principal, model_id: ModelId) -> Model:
        """Publish the model (idempotent); returns it as it was before."""
        async with self._sessions() as db, db.begin():
            model = await self._own(db, principal, model_id)
            if not model.ready:
                await repo.change(db, model_id, self._clock.now(), {"ready": True})
        return model

    async def set_archived(self, principal: Principal, model_id: ModelId, archived: bool) -> int:
        """Add or remove the ``archived`` system tag; returns 1 when it changed."""
        async with self._sessions() as db, db.begin():
            model = await self._own(db, principal, model_id)
            tags = [t for t in model.system_tags if t != ARCHIVED]
            if archived:
                tags.append(ARCHIVED)
            if sorted(tags) == sorted(model.system_tags):
                return 0
            await repo.change(db, model_id, self._clock.now(), {"system_tags": tuple(tags)})
        return 1

    async def delete(
        self, principal: Principal, model_id: ModelId, *, force: bool = False
    ) -> Model:
        """Delete the model; returns what it was. Raises NotFound, Forbidden, ModelIsReady
        (a published model, without ``force``)."""
        async with self._sessions() as db, db.begin():
            model = await self._own(db, principal, model_id)
            if model.ready and not force:
                raise ModelIsReady("The model is published: delete it with force.")
            await repo.remove(db, [model_id])
        await self._events_gone([model_id])
        return model

    async def many(
        self, ids: Sequence[ModelId], action: Callable[[ModelId], Awaitable[object]]
    ) -> BatchOutcome:
        """Run ``action(id)`` for each id, collecting successes and failures' messages."""
        outcome = BatchOutcome()
        for model_id in dict.fromkeys(ids):
            try:
                await action(model_id)
            except HangarError as exc:
                outcome.failed[model_id] = exc
            else:
                outcome.succeeded.append(model_id)
        return outcome

    # Events of models (OutputModel.report_scalar) --------------------------------------------

    async def writable(self, principal: Principal, ids: Collection[ModelId]) -> set[ModelId]:
        """The models among ``ids`` the principal may change (whose events it may add)."""
        projects = await self._readable_projects(principal)
        async with self._sessions() as db:
            found = await repo.visible(db, principal, projects, ids=list(ids))
        return {m.id for m in found if principal.owns(m.user) or principal.is_admin}

    async def refs(self, principal: Principal, ids: Collection[ModelId]) -> dict[str, TaskRef]:
        """The visible models among ``ids``, as the refs reads of events take."""
        projects = await self._readable_projects(principal)
        async with self._sessions() as db:
            found = await repo.visible(db, principal, projects, ids=list(ids))
        return {m.id: TaskRef(m.id, m.name, m.project, "", str(m.user), m.company) for m in found}

    async def record_metrics(self, figures: Mapping[ModelId, MetricsSummary]) -> None:
        """The models' ``last_iteration`` and ``last_metrics`` as their events left them."""
        async with self._sessions() as db, db.begin():
            for model_id, summary in figures.items():
                values = {"last_metrics": summary.last_metrics, "iteration": summary.last_iteration}
                await repo.change(db, model_id, self._clock.now(), values)

    async def tasks_published(self, task_ids: Collection[str]) -> int:
        """Published tasks publish their output models (the reference server's rule); the
        caller has checked the tasks. Returns how many models changed."""
        async with self._sessions() as db, db.begin():
            return await repo.publish_of_tasks(db, task_ids, self._clock.now())

    async def tasks_deleted(self, tasks: Collection[TaskRef], keep: Keep = KEEP_NOTHING) -> Cleaned:
        """KeepingCleanup: a deleted (or reset) task's output models go with it, their files
        too, unless ``keep.models``; says the urls of those that went, or of those kept."""
        async with self._sessions() as db, db.begin():
            found = await repo.uris_of_tasks(db, [t.id for t in tasks])
            uris = tuple(uri for uri in found.values() if uri)
            if keep.models:
                return Cleaned(kept_models=uris)
            if found:
                await repo.remove(db, list(found))
        await self._events_gone(list(found))
        return Cleaned(models=len(found), model_urls=uris)


def _differs(model: Model, name: str, value: Any) -> bool:
    current = getattr(model, name)
    return bool(current != value) and not (isinstance(current, dict) and dict(current) == value)


def _narrowing(query: q.Query) -> dict[str, Collection[Any]]:
    """Plain positive list conditions on id/task/project, applied in SQL too (``run`` still
    checks every condition)."""
    narrow: dict[str, Collection[Any]] = {}
    for condition in query.conditions:
        found = _positive_terms(condition)
        if found is not None and found[0] in SQL_NARROWED:
            narrow[found[0]] = found[1]
    return narrow


def _positive_terms(condition: Filter) -> tuple[str, list[Any]] | None:
    """(path, values) of a list condition (``q.InList``) of only positive, non-empty terms
    of one path; None for any other condition."""
    if not isinstance(condition, And) or len(condition.items) != 1:
        return None
    either = condition.items[0]
    if not isinstance(either, Or) or not either.items:
        return None
    terms = [t for t in either.items if isinstance(t, Compare) and t.op is Op.HAS]
    if len(terms) != len(either.items) or len({t.field for t in terms}) != 1:
        return None
    if any(t.value is None for t in terms):
        return None
    return terms[0].field, [t.value for t in terms]


__all__ = ["ModelIsReady", "ModelsService", "ProjectAccess", "model_not_found"]


class ModelsAsTasks:
    """``TaskAccess`` over models: a model's own events (``model_events``) are read as a
    task's are, by whoever may see the model."""

    def __init__(self, models: ModelsService) -> None:
        self._models = models

    async def readable(self, principal: Principal, ids: Collection[str]) -> dict[str, TaskRef]:
        return await self._models.refs(principal, ids)

    async def writable(self, principal: Principal, ids: Collection[str]) -> dict[str, TaskRef]:
        mine = await self._models.writable(principal, ids)
        return {k: v for k, v in (await self.readable(principal, mine)).items()}
