"""Model rows in, :class:`Model` values out (the only module that imports their table)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, true, update

from hangar.core.principal import Principal
from hangar.core.tracking.models.model import MetadataItem, Model, ModelId
from hangar.db.engine import DbSession
from hangar.db.tables.tracking_models import TrackingModelRow

COLUMNS = {
    "name": "name",
    "uri": "uri",
    "comment": "comment",
    "tags": "tags",
    "system_tags": "system_tags",
    "framework": "framework",
    "design": "design",
    "labels": "labels",
    "ready": "ready",
    "project": "project_id",
    "task": "task_id",
    "parent": "parent_id",
    "iteration": "last_iteration",
    "ui_cache": "ui_cache",
    "metadata": "meta",
    "last_metrics": "last_metrics",
}
"""Model field -> column, for the fields a change may set."""


def model_from_row(row: TrackingModelRow) -> Model:
    return Model(
        id=row.id,
        name=row.name,
        user=row.user_uuid,
        company=row.domain_name,
        project=row.project_id,
        task=row.task_id,
        parent=row.parent_id,
        comment=row.comment,
        tags=tuple(row.tags),
        system_tags=tuple(row.system_tags),
        framework=row.framework,
        design=row.design,
        labels=row.labels,
        uri=row.uri,
        ready=row.ready,
        metadata={k: MetadataItem(**v) for k, v in row.meta.items()},
        ui_cache=row.ui_cache,
        last_iteration=row.last_iteration,
        last_metrics=row.last_metrics,
        created=row.created,
        last_update=row.last_update,
    )


def column_values(values: dict[str, Any]) -> dict[str, Any]:
    """A change's fields as column values (tuples as lists, metadata as plain maps)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "metadata":
            value = {m.key: {"key": m.key, "type": m.type, "value": m.value} for m in value}
        elif isinstance(value, tuple):
            value = list(value)
        elif name in ("design", "labels", "ui_cache", "last_metrics"):
            value = dict(value)
        out[COLUMNS[name]] = value
    return out


async def insert(
    db: DbSession, model_id: ModelId, user: uuid.UUID, company: str, now: datetime,
    values: dict[str, Any],
) -> None:  # fmt: skip
    row = TrackingModelRow(
        id=model_id, user_uuid=user, domain_name=company, created=now, last_update=now,
        name="", comment="", tags=[], system_tags=[], design={}, labels={}, uri="",
        ready=False, meta={}, ui_cache={}, last_iteration=0, last_metrics={},
    )  # fmt: skip
    for column, value in column_values(values).items():
        setattr(row, column, value)
    db.add(row)


def scope(principal: Principal, projects: Collection[str]) -> ColumnElement[bool]:
    """The models ``principal`` sees: all (a superadmin), the domain's (an admin), else its
    own and those filed in ``projects`` (the projects it may read)."""
    if principal.is_admin and principal.is_superadmin:
        return true()
    M = TrackingModelRow
    if principal.is_admin:
        return M.domain_name == principal.domain_name
    mine: ColumnElement[bool] = M.user_uuid == principal.user_uuid
    if projects:
        mine = or_(mine, M.project_id.in_(list(projects)))
    return (M.domain_name == principal.domain_name) & mine


async def visible(
    db: DbSession,
    principal: Principal,
    projects: Collection[str],
    *,
    ids: Collection[ModelId] | None = None,
    narrow: dict[str, Collection[Any]] | None = None,
) -> list[Model]:
    """The models ``principal`` sees (see :func:`scope`), among ``ids`` when given;
    ``narrow`` (model field -> allowed values) cuts the rows in SQL before they load."""
    query = select(TrackingModelRow).where(scope(principal, projects))
    if ids is not None:
        query = query.where(TrackingModelRow.id.in_(list(ids)))
    for name, allowed in (narrow or {}).items():
        query = query.where(getattr(TrackingModelRow, COLUMNS.get(name, name)).in_(list(allowed)))
    return [model_from_row(row) for row in await db.scalars(query)]


async def change(db: DbSession, model_id: ModelId, now: datetime, values: dict[str, Any]) -> int:
    """Set ``values`` (model fields); returns the rows changed (0: the model is gone)."""
    result = await db.execute(
        update(TrackingModelRow)
        .where(TrackingModelRow.id == model_id)
        .values(last_update=now, **column_values(values))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def remove(db: DbSession, ids: Collection[ModelId]) -> int:
    result = await db.execute(delete(TrackingModelRow).where(TrackingModelRow.id.in_(list(ids))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def of_tasks(db: DbSession, task_ids: Collection[str]) -> list[ModelId]:
    rows = await db.scalars(
        select(TrackingModelRow.id).where(TrackingModelRow.task_id.in_(list(task_ids)))
    )
    return list(rows)


async def uris_of_tasks(db: DbSession, task_ids: Collection[str]) -> dict[ModelId, str]:
    """The models of the tasks, with the uri of each one's weights ("" for none)."""
    rows = await db.execute(
        select(TrackingModelRow.id, TrackingModelRow.uri).where(
            TrackingModelRow.task_id.in_(list(task_ids))
        )
    )
    return {model: uri or "" for model, uri in rows}


async def publish_of_tasks(db: DbSession, task_ids: Collection[str], now: datetime) -> int:
    """Mark the models of the tasks ready (published); returns how many changed."""
    result = await db.execute(
        update(TrackingModelRow)
        .where(TrackingModelRow.task_id.in_(list(task_ids)), TrackingModelRow.ready.is_(False))
        .values(ready=True, last_update=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
