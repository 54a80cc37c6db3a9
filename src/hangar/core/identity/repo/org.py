"""Writes to groups, domains and keypair resource policies."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from hangar.core.errors import Conflict, InvalidRequest, NotFound
from hangar.core.identity.models import ResourcePolicy
from hangar.core.identity.repo import policy_from_row
from hangar.core.identity.repo.directory import domain_view, group_view
from hangar.core.identity.views import DomainView, GroupView
from hangar.db.engine import DbSession
from hangar.db.tables.base import HOLDING_STATUSES
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.identity import (
    DomainRow,
    GroupMemberRow,
    GroupRow,
    KeyPairRow,
    ResourcePolicyRow,
    UserRow,
)

# Groups ----------------------------------------------------------------------------------


async def insert_group(db: DbSession, **fields: Any) -> GroupView:
    """Add a group (``fields`` are its columns)."""
    row = GroupRow(**fields)
    db.add(row)
    return group_view(row, [])


async def update_group(db: DbSession, group_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Set the columns of a group whose value is not None. Raises NotFound."""
    row = await db.get(GroupRow, group_id)
    if row is None:
        raise NotFound("group")
    for key, value in values.items():
        if value is not None:
            setattr(row, key, value)


async def update_members(
    db: DbSession, group_id: uuid.UUID, domain_name: str, add: bool, users: set[uuid.UUID]
) -> None:
    """Add users to, or remove them from, a group. Raises InvalidRequest for an unknown user
    or one of another domain."""
    found = list((await db.execute(select(UserRow).where(UserRow.uuid.in_(users)))).scalars())
    if len(found) != len(users) or any(u.domain_name != domain_name for u in found):
        raise InvalidRequest("user_uuids must name users of the group's domain")
    existing = select(GroupMemberRow.user_id).where(GroupMemberRow.group_id == group_id)
    members = set((await db.execute(existing)).scalars())
    if add:
        for uid in users - members:
            db.add(GroupMemberRow(user_id=uid, group_id=group_id))
    else:
        await db.execute(
            delete(GroupMemberRow).where(
                GroupMemberRow.group_id == group_id, GroupMemberRow.user_id.in_(users)
            )
        )


async def live_sessions_of_group(db: DbSession, group_id: uuid.UUID) -> int:
    live = select(func.count()).where(
        SessionRow.group_id == group_id, SessionRow.status.in_(HOLDING_STATUSES)
    )
    return int((await db.execute(live)).scalar_one())


async def purge_group(db: DbSession, group_id: uuid.UUID) -> None:
    """Delete the group and its sessions. Raises Conflict while it still owns other data."""
    row = await db.get(GroupRow, group_id)
    if row is None:
        raise NotFound("group")
    await db.execute(delete(SessionRow).where(SessionRow.group_id == group_id))
    await db.delete(row)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise Conflict("The group still owns data (folders, templates).") from exc


# Domains ---------------------------------------------------------------------------------


async def insert_domain(db: DbSession, default_group: dict[str, Any], **fields: Any) -> DomainView:
    """Add a domain (``fields`` are its columns) with its default group."""
    row = DomainRow(**fields)
    db.add(row)
    await db.flush()
    db.add(GroupRow(**default_group, domain_name=row.name))
    return domain_view(row, [])


async def update_domain(db: DbSession, name: str, values: dict[str, Any]) -> None:
    """Set the columns of a domain whose value is not None (a new ``name`` too: foreign keys
    follow, ON UPDATE CASCADE). Raises NotFound."""
    row = await db.get(DomainRow, name)
    if row is None:
        raise NotFound("domain")
    for key, value in values.items():
        if value is not None:
            setattr(row, key, value)


async def users_in_domain(db: DbSession, name: str) -> int:
    users = select(func.count()).where(UserRow.domain_name == name)
    return int((await db.execute(users)).scalar_one())


async def purge_domain(db: DbSession, name: str) -> None:
    """Delete a domain and its groups. Raises Conflict while it still owns other data."""
    row = await db.get(DomainRow, name)
    if row is None:
        raise NotFound("domain")
    await db.execute(delete(GroupRow).where(GroupRow.domain_name == name))
    await db.delete(row)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise Conflict("The domain still owns data (sessions, folders).") from exc


# Keypair resource policies ---------------------------------------------------------------


async def policy_exists(db: DbSession, name: str) -> bool:
    return await db.get(ResourcePolicyRow, name) is not None


async def insert_policy(
    db: DbSession, name: str, created_at: datetime, values: Iterable[tuple[str, Any]]
) -> ResourcePolicy:
    row = ResourcePolicyRow(name=name, created_at=created_at)
    for key, value in values:
        setattr(row, key, value)
    db.add(row)
    return policy_from_row(row)


async def update_policy(db: DbSession, name: str, values: Iterable[tuple[str, Any]]) -> None:
    """Set columns of a resource policy. Raises NotFound."""
    row = await db.get(ResourcePolicyRow, name)
    if row is None:
        raise NotFound("resource policy")
    for key, value in values:
        setattr(row, key, value)


async def keypairs_with_policy(db: DbSession, name: str) -> int:
    used = select(func.count()).where(KeyPairRow.resource_policy == name)
    return int((await db.execute(used)).scalar_one())


async def delete_policy(db: DbSession, name: str) -> None:
    row = await db.get(ResourcePolicyRow, name)
    if row is None:
        raise NotFound("resource policy")
    await db.delete(row)
