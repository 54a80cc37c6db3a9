"""Project and task rows in, projects and tasks out (the only module that imports their tables).

Every read is scoped: a caller sees their own projects and tasks, and the tasks of projects
they see; an administrator credential sees its domain's, a superadministrator's everything.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from hangar.core.principal import Principal
from hangar.core.tracking.contracts import TaskRef
from hangar.core.tracking.tasks.models import DOCUMENTS, Project, Task
from hangar.core.tracking.tasks.states import TaskStatus
from hangar.db.engine import DbSession
from hangar.db.tables.tracking_tasks import TrackingProjectRow, TrackingTaskRow

PROJECTS = cast(Table, TrackingProjectRow.__table__)
TASKS = cast(Table, TrackingTaskRow.__table__)
P = PROJECTS.c
T = TASKS.c

_TASK_COLUMNS = (
    T.id,
    T.name,
    T.type,
    T.status,
    T.status_reason,
    T.status_message,
    T.status_changed,
    T.user_uuid,
    T.domain_name,
    T.project_id,
    T.comment,
    T.parent_id,
    T.tags,
    T.system_tags,
    T.created,
    T.started,
    T.completed,
    T.published,
    T.last_update,
    T.last_change,
    T.last_worker,
    T.last_worker_report,
    T.active_duration,
    T.enqueue_status,
    *(T[name] for name in DOCUMENTS),
)  # fmt: skip  (Task's fields, in order)
_PROJECT_COLUMNS = (
    P.id,
    P.name,
    P.basename,
    P.description,
    P.user_uuid,
    P.domain_name,
    P.parent_id,
    P.tags,
    P.system_tags,
    P.default_output_destination,
    P.created,
    P.last_update,
)  # fmt: skip  (Project's fields, in order)
_STATUSES = {s.value: s for s in TaskStatus}
Db = DbSession | AsyncConnection


def _task(fields: Sequence[Any]) -> Task:
    values = list(fields)
    values[3] = _STATUSES.get(values[3], TaskStatus.UNKNOWN)
    return Task(*values)


def _project(fields: Sequence[Any]) -> Project:
    return Project(*fields)


def project_scope(principal: Principal) -> ColumnElement[bool]:
    """The projects ``principal`` sees."""
    if principal.is_admin and principal.is_superadmin:
        return true()
    if principal.is_admin:
        return P.domain_name == principal.domain_name
    return (P.domain_name == principal.domain_name) & (P.user_uuid == principal.user_uuid)


def task_scope(principal: Principal) -> ColumnElement[bool]:
    """The tasks ``principal`` sees: own ones and those of projects it sees."""
    if principal.is_admin and principal.is_superadmin:
        return true()
    if principal.is_admin:
        return T.domain_name == principal.domain_name
    own_projects = select(P.id).where(project_scope(principal))
    return (T.domain_name == principal.domain_name) & or_(
        T.user_uuid == principal.user_uuid, T.project_id.in_(own_projects)
    )


# Projects --------------------------------------------------------------------------------


async def projects(
    db: Db,
    principal: Principal,
    *,
    ids: Collection[str] | None = None,
    names: Collection[str] | None = None,
) -> list[Project]:
    """The projects the principal sees, narrowed to ``ids`` / full ``names`` when given; its
    own first, then others' (an administrator's), each oldest first."""
    stmt = select(*_PROJECT_COLUMNS).where(project_scope(principal))
    if ids is not None:
        stmt = stmt.where(P.id.in_(list(ids)) if ids else false())
    if names is not None:
        stmt = stmt.where(P.name.in_(list(names)) if names else false())
    own_first = case((P.user_uuid == principal.user_uuid, 0), else_=1)  # an admin's Task.init
    rows = await db.execute(stmt.order_by(own_first, P.created, P.id))  # finds its own project
    return [_project(row) for row in rows]


async def own_projects_named(
    db: Db, principal: Principal, names: Collection[str]
) -> dict[str, Project]:
    """The principal's own projects among full ``names`` (names are unique per owner)."""
    stmt = select(*_PROJECT_COLUMNS).where(
        P.domain_name == principal.domain_name,
        P.user_uuid == principal.user_uuid,
        P.name.in_(list(names)),
    )
    return {row.name: _project(row) for row in await db.execute(stmt)}


async def insert_project(db: Db, values: Mapping[str, Any]) -> None:
    await db.execute(insert(PROJECTS).values(**values))


async def update_project(db: Db, project_id: str, values: Mapping[str, Any]) -> int:
    result = await db.execute(update(PROJECTS).where(P.id == project_id).values(**values))
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_projects(db: Db, ids: Collection[str]) -> None:
    await db.execute(delete(PROJECTS).where(P.id.in_(list(ids))))


async def project_children(db: Db, project_ids: Collection[str]) -> list[str]:
    """Ids of the direct sub-projects of ``project_ids``."""
    rows = await db.execute(select(P.id).where(P.parent_id.in_(list(project_ids))))
    return [row[0] for row in rows]


async def tasks_per_project(db: Db, project_ids: Collection[str]) -> dict[str, int]:
    rows = await db.execute(
        select(T.project_id, func.count())
        .where(T.project_id.in_(list(project_ids)))
        .group_by(T.project_id)
    )
    return {project_id: count for project_id, count in rows}


async def tasks_of_projects(db: Db, project_ids: Collection[str]) -> list[Task]:
    """Every task of the given projects, whoever owns it (for statistics of visible projects)."""
    if not project_ids:
        return []
    rows = await db.execute(select(*_TASK_COLUMNS).where(T.project_id.in_(list(project_ids))))
    return [_task(row) for row in rows]


# Tasks -----------------------------------------------------------------------------------


async def tasks(
    db: Db,
    principal: Principal,
    *,
    ids: Collection[str] | None = None,
    project_ids: Collection[str] | None = None,
    statuses: Collection[str] | None = None,
    names: Collection[str] | None = None,
) -> list[Task]:
    """The tasks the principal sees, narrowed by the given plain-column values, oldest first."""
    stmt = select(*_TASK_COLUMNS).where(task_scope(principal))
    for column, wanted in ((T.id, ids), (T.project_id, project_ids), (T.status, statuses),
                           (T.name, names)):  # fmt: skip
        if wanted is not None:
            stmt = stmt.where(column.in_(list(wanted)) if wanted else false())
    return [_task(row) for row in await db.execute(stmt.order_by(T.created, T.id))]


_DOC_COLUMNS = {
    **{column.name: column for column in _TASK_COLUMNS},
    "user": T.user_uuid,
    "company": T.domain_name,
    "project": T.project_id,
    "parent": T.parent_id,
}  # fmt: skip  (a task document's field -> its column)
for _renamed in ("user_uuid", "domain_name", "project_id", "parent_id"):
    del _DOC_COLUMNS[_renamed]


async def task_documents(
    db: Db,
    principal: Principal,
    fields: Collection[str] | None,
    *,
    ids: Collection[str] | None = None,
    project_ids: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """The visible tasks as documents of only ``fields`` (None: all; ``id`` always),
    oldest first: a list that reads two fields decodes no JSON documents."""
    names = ["id", *(f for f in _DOC_COLUMNS if f != "id" and (fields is None or f in fields))]
    stmt = select(*(_DOC_COLUMNS[n] for n in names)).where(task_scope(principal))
    for column, wanted in ((T.id, ids), (T.project_id, project_ids)):
        if wanted is not None:
            stmt = stmt.where(column.in_(list(wanted)) if wanted else false())
    docs = [dict(zip(names, row, strict=True)) for row in await db.execute(
        stmt.order_by(T.created, T.id))]  # fmt: skip
    if "user" in names:
        for doc in docs:
            doc["user"] = str(doc["user"])
    return docs


async def task_refs(db: Db, principal: Principal, ids: Collection[str]) -> list[TaskRef]:
    """Where the visible tasks among ``ids`` live (one query, no documents decoded): the
    other tracking parts ask this for every batch they write."""
    stmt = (
        select(T.id, T.name, T.project_id, P.name, T.user_uuid, T.domain_name)
        .outerjoin(PROJECTS, P.id == T.project_id)
        .where(task_scope(principal), T.id.in_(list(ids)))
    )
    return [
        TaskRef(task_id, name, project, project_name or "", str(owner), domain)
        for task_id, name, project, project_name, owner, domain in await db.execute(stmt)
    ]


async def task_refs_owned_by(db: Db, user_uuid: uuid.UUID) -> list[TaskRef]:
    """Where the tasks the user owns live, whoever may see them (a user's purge)."""
    stmt = (
        select(T.id, T.name, T.project_id, P.name, T.user_uuid, T.domain_name)
        .outerjoin(PROJECTS, P.id == T.project_id)
        .where(T.user_uuid == user_uuid)
    )
    return [
        TaskRef(task_id, name, project, project_name or "", str(owner), domain)
        for task_id, name, project, project_name, owner, domain in await db.execute(stmt)
    ]


async def task_revision(db: Db, principal: Principal, task_id: str) -> tuple[Task, int]:
    """The task (if the principal sees it) and its revision, for a compare-and-set write."""
    stmt = select(*_TASK_COLUMNS, T.revision).where(task_scope(principal), T.id == task_id)
    row = (await db.execute(stmt)).first()
    if row is None:
        raise LookupError(task_id)
    return _task(row[:-1]), int(row[-1])


_INSERT_TASK = insert(TASKS)
_ME = bindparam("me", type_=P.user_uuid.type)
_DOMAIN = bindparam("domain", type_=P.domain_name.type)
_PROJECT = bindparam("project", type_=P.id.type)
_VISIBLE_PROJECT = {  # by the principal's reach: own, domain, everything
    "user": select(P.id).where(P.id == _PROJECT, P.domain_name == _DOMAIN, P.user_uuid == _ME),
    "domain": select(P.id).where(P.id == _PROJECT, P.domain_name == _DOMAIN),
    "all": select(P.id).where(P.id == _PROJECT),
}


def _reach(principal: Principal) -> str:
    if principal.is_admin:
        return "all" if principal.is_superadmin else "domain"
    return "user"


async def project_visible(conn: AsyncConnection, principal: Principal, project_id: str) -> bool:
    """Whether the principal sees the project (one prepared statement: the create path)."""
    params = {"project": project_id, "domain": principal.domain_name, "me": principal.user_uuid}
    result = await conn.execute(_VISIBLE_PROJECT[_reach(principal)], params)
    return result.first() is not None


async def task_visible(db: Db, principal: Principal, task_id: str) -> bool:
    stmt = select(T.id).where(task_scope(principal), T.id == task_id)
    return (await db.execute(stmt)).first() is not None


async def insert_task(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    """Inserts a task row (a prepared statement, values as parameters)."""
    await conn.execute(_INSERT_TASK, {"revision": 0, **values})


async def update_task(db: Db, task_id: str, revision: int, values: Mapping[str, Any]) -> bool:
    """Writes ``values`` if the task is still at ``revision`` (compare-and-set); False if not."""
    result = await db.execute(
        update(TASKS)
        .where(T.id == task_id, T.revision == revision)
        .values(revision=revision + 1, **values)
    )
    return bool(getattr(result, "rowcount", 0))


async def move_status(db: Db, task_id: str, old: TaskStatus, values: Mapping[str, Any]) -> bool:
    """Writes a status move if the task is still in ``old`` (compare-and-set); False if not."""
    result = await db.execute(
        update(TASKS)
        .where(T.id == task_id, T.status == old.value)
        .values(revision=T.revision + 1, **values)
    )
    return bool(getattr(result, "rowcount", 0))


async def touch(db: Db, task_id: str, at: datetime) -> None:
    await db.execute(update(TASKS).where(T.id == task_id).values(last_update=at))


async def delete_tasks(db: Db, ids: Collection[str]) -> None:
    await db.execute(delete(TASKS).where(T.id.in_(list(ids))))


async def clear_parent(db: Db, ids: Collection[str]) -> int:
    """Children of deleted tasks lose their parent; how many there were."""
    result = await db.execute(
        update(TASKS).where(T.parent_id.in_(list(ids))).values(parent_id=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def silent_tasks(db: Db, before: datetime, limit: int) -> list[Task]:
    """In-progress tasks last updated before ``before`` (the oldest first), any owner."""
    query = (
        select(*_TASK_COLUMNS)
        .where(T.status == TaskStatus.IN_PROGRESS.value, T.last_update < before)
        .order_by(T.last_update)
        .limit(limit)
    )
    return [_task(row) for row in await db.execute(query)]


async def stop_silent(db: Db, task_id: str, before: datetime, values: Mapping[str, Any]) -> bool:
    """Writes ``values`` if the task is still in progress and silent since ``before``
    (compare-and-set: a ping or a move meanwhile wins); False if not."""
    result = await db.execute(
        update(TASKS)
        .where(T.id == task_id, T.status == TaskStatus.IN_PROGRESS.value, T.last_update < before)
        .values(revision=T.revision + 1, **values)
    )
    return bool(getattr(result, "rowcount", 0))
