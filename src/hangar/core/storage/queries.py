"""Paginated folder lists for GraphQL (``vfolder_list``, ``vfolders``), scoped by role.

Superadmins see every folder; domain admins the folders of their domain's users and
groups; everyone else the folders they can reach (own, their groups', shared with them).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.errors import InvalidRequest
from hangar.core.filters import Filter, OrderBy, Page, check_page
from hangar.core.principal import Principal
from hangar.core.storage import repo
from hangar.core.storage.models import Permission, VFolder
from hangar.core.storage.repo import listing
from hangar.db.engine import DbSession

FIELDS = listing.FIELDS


@dataclass(frozen=True, slots=True)
class FolderView:
    """A folder in a listing. ``permission`` is the caller's own (``wd`` on their folders,
    a share's or the group folder's otherwise); on folders an admin lists but cannot reach
    it is the folder's setting."""

    folder: VFolder
    user_email: str | None
    group_name: str | None
    permission: Permission


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
    if domain_name and not caller.is_superadmin and domain_name != caller.domain_name:
        raise InvalidRequest("You can list folders of your own domain only.")
    try:
        group = uuid.UUID(str(group_id)) if group_id else None
    except ValueError:
        raise InvalidRequest("group_id must be a UUID.") from None
    domains = [domain_name] if domain_name else []
    if caller.is_admin and not caller.is_superadmin:
        domains.insert(0, caller.domain_name)
    async with sessions() as db:
        effective = {a.folder.id: a.permission for a in await repo.accessible(db, caller.user_uuid)}
        folders, total = await listing.folder_page(
            db,
            among=None if caller.is_superadmin or caller.is_admin else list(effective),
            domains=domains,
            group_id=group,
            filter=filter,
            order=order,
            limit=limit,
            offset=offset,
        )
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
    return Page(items, total)
