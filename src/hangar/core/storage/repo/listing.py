"""The folder list's query: its filterable fields, scopes, filter, order and page."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, or_, select

from hangar.core.filters import (
    Field,
    Filter,
    OrderBy,
    as_bool,
    as_datetime,
    as_int,
    as_uuid,
    compile_filter,
    compile_order,
)
from hangar.core.storage.models import VFolder
from hangar.core.storage.repo import folder_from_row
from hangar.db.engine import DbSession
from hangar.db.tables.identity import GroupRow, UserRow
from hangar.db.tables.storage import VFolderRow

FIELDS = {
    "id": Field(VFolderRow.id, as_uuid),
    "host": Field(VFolderRow.host),
    "name": Field(VFolderRow.name),
    "user": Field(VFolderRow.user_uuid, as_uuid),
    "group": Field(VFolderRow.group_id, as_uuid),
    "creator": Field(VFolderRow.creator),
    "usage_mode": Field(VFolderRow.usage_mode),
    "permission": Field(VFolderRow.permission),
    "ownership_type": Field(VFolderRow.ownership_type),
    "max_size": Field(VFolderRow.quota_bytes, as_int),
    "cloneable": Field(VFolderRow.cloneable, as_bool),
    "created_at": Field(VFolderRow.created_at, as_datetime),
    "last_used": Field(VFolderRow.last_used, as_datetime),
}


def _of_domain(domain_name: str) -> ColumnElement[bool]:
    """Folders of the domain's users and groups."""
    users = select(UserRow.uuid).where(UserRow.domain_name == domain_name)
    groups = select(GroupRow.id).where(GroupRow.domain_name == domain_name)
    return or_(VFolderRow.user_uuid.in_(users), VFolderRow.group_id.in_(groups))


async def folder_page(
    db: DbSession,
    *,
    among: Sequence[uuid.UUID] | None,
    domains: Sequence[str],
    group_id: uuid.UUID | None,
    filter: Filter | None,
    order: Sequence[OrderBy] | None,
    limit: int,
    offset: int,
) -> tuple[list[VFolder], int]:
    """One page of folders (newest first unless ``order`` says) and how many match: those
    ``among`` the ids given (None: all), of each of ``domains``, of the group, matching
    ``filter``. Raises UnknownField, InvalidFilterValue."""
    conditions: list[ColumnElement[bool]] = []
    if among is not None:
        conditions.append(VFolderRow.id.in_(list(among)))
    conditions += [_of_domain(name) for name in domains]
    if group_id is not None:
        conditions.append(VFolderRow.group_id == group_id)
    condition = compile_filter(filter, FIELDS)
    if condition is not None:
        conditions.append(condition)
    total = await db.scalar(select(func.count()).select_from(VFolderRow).where(*conditions))
    ordering = compile_order(order, FIELDS, [VFolderRow.created_at.desc(), VFolderRow.id])
    rows = await db.scalars(
        select(VFolderRow).where(*conditions).order_by(*ordering).limit(limit).offset(offset)
    )
    return [folder_from_row(row) for row in rows], int(total or 0)
