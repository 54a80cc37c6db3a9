"""Paginated folder lists for GraphQL (``vfolder_list``, ``vfolders``), scoped by role.

Superadmins see every folder; domain admins the folders of their domain's users and
groups; everyone else the folders they can reach (own, their groups', shared with them).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.errors import InvalidRequest
from hangar.core.filters import (
    Field,
    Filter,
    OrderBy,
    Page,
    as_bool,
    as_datetime,
    as_int,
    as_uuid,
    check_page,
    compile_filter,
    compile_order,
)
from hangar.core.principal import Principal
from hangar.core.storage import repo
from hangar.core.storage.models import Permission, VFolder
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


@dataclass(frozen=True, slots=True)
class FolderView:
    """A folder in a listing. ``permission`` is the caller's own (``wd`` on their folders,
    a share's or the group folder's otherwise); on folders an admin lists but cannot reach
    it is the folder's setting."""

    folder: VFolder
    user_email: str | None
    group_name: str | None
    permission: Permission


def _scope(caller: Principal, reachable: Sequence[uuid.UUID]) -> list[ColumnElement[bool]]:
    if caller.is_superadmin:
        return []
    if caller.is_admin:
        users = select(UserRow.uuid).where(UserRow.domain_name == caller.domain_name)
        groups = select(GroupRow.id).where(GroupRow.domain_name == caller.domain_name)
        return [or_(VFolderRow.user_uuid.in_(users), VFolderRow.group_id.in_(groups))]
    return [VFolderRow.id.in_(list(reachable))]


async def folder_page(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    limit: int,
    offset: int,
    filter: Filter | None = None,
    order: Sequence[OrderBy] | None = None,
    domain_name: str | None = None,
    group_id: str | None = None,
    access_key: str | None = None,
) -> Page[FolderView]:
    check_page(limit, offset)
    async with sessions() as db:
        effective = {a.folder.id: a.permission for a in await repo.accessible(db, caller.user_uuid)}
        conditions = _scope(caller, list(effective))
        if domain_name:
            if not caller.is_superadmin and domain_name != caller.domain_name:
                raise InvalidRequest("You can list folders of your own domain only.")
            users = select(UserRow.uuid).where(UserRow.domain_name == domain_name)
            groups = select(GroupRow.id).where(GroupRow.domain_name == domain_name)
            conditions.append(or_(VFolderRow.user_uuid.in_(users), VFolderRow.group_id.in_(groups)))
        if group_id:
            try:
                conditions.append(VFolderRow.group_id == uuid.UUID(str(group_id)))
            except ValueError:
                raise InvalidRequest("group_id must be a UUID.") from None
        condition = compile_filter(filter, FIELDS)
        if condition is not None:
            conditions.append(condition)
        total = await db.scalar(select(func.count()).select_from(VFolderRow).where(*conditions))
        ordering = compile_order(order, FIELDS, [VFolderRow.created_at.desc(), VFolderRow.id])
        rows = await db.scalars(
            select(VFolderRow).where(*conditions).order_by(*ordering).limit(limit).offset(offset)
        )
        folders = [repo.folder_from_row(row) for row in rows]
        emails, names = await repo.owner_labels(db, folders)
    items = [
        FolderView(
            f,
            emails.get(f.user_uuid) if f.user_uuid else None,
            names.get(f.group_id) if f.group_id else None,
            effective.get(f.id, f.permission),
        )
        for f in folders
    ]
    return Page(items, int(total or 0))
