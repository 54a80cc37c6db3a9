"""Storage rows in, storage domain objects out."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hangar.core.compute.states import DEAD
from hangar.core.principal import Principal
from hangar.core.storage.models import (
    Access,
    Invitation,
    InvitationState,
    OwnershipType,
    Permission,
    UsageMode,
    VFolder,
)
from hangar.db.engine import DbSession
from hangar.db.hotread import HotQuery, Rows
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.identity import (
    DomainRow,
    GroupMemberRow,
    GroupRow,
    KeyPairRow,
    ResourcePolicyRow,
    UserRow,
)
from hangar.db.tables.storage import VFolderInvitationRow, VFolderRow, VFolderShareRow


def folder_from_row(row: VFolderRow) -> VFolder:
    return VFolder(
        id=row.id,
        host=row.host,
        name=row.name,
        usage_mode=UsageMode(row.usage_mode),
        permission=Permission(row.permission),
        quota_bytes=row.quota_bytes,
        cloneable=row.cloneable,
        ownership_type=OwnershipType(row.ownership_type),
        user_uuid=row.user_uuid,
        group_id=row.group_id,
        creator=row.creator,
        unmanaged_path=row.unmanaged_path,
        created_at=row.created_at,
        last_used=row.last_used,
    )


def invitation_from_row(row: VFolderInvitationRow, folder_name: str) -> Invitation:
    return Invitation(
        id=row.id,
        vfolder_id=row.vfolder_id,
        vfolder_name=folder_name,
        inviter=row.inviter,
        invitee=row.invitee,
        permission=Permission(row.permission),
        state=InvitationState(row.state),
        created_at=row.created_at,
        modified_at=row.modified_at,
    )


async def group_ids_of(db: DbSession, user_uuid: uuid.UUID) -> list[uuid.UUID]:
    rows = await db.scalars(
        select(GroupMemberRow.group_id).where(GroupMemberRow.user_id == user_uuid)
    )
    return list(rows)


_ME = bindparam("me", type_=VFolderRow.__table__.c.user_uuid.type)
_V = VFolderRow.__table__.c
# Built once and read as plain tuples (no ORM objects, no attribute look-ups): building a
# statement and loading entities cost more than running this one on SQLite.
_ACCESSIBLE = (
    select(
        _V.id,
        _V.host,
        _V.name,
        _V.usage_mode,
        _V.permission,
        _V.quota_bytes,
        _V.cloneable,
        _V.ownership_type,
        _V.user_uuid,
        _V.group_id,
        _V.creator,
        _V.unmanaged_path,
        _V.created_at,
        _V.last_used,  # VFolder's fields, in order
        VFolderShareRow.permission,
        GroupMemberRow.user_id,
        UserRow.email,
        GroupRow.name,
    )  # fmt: skip
    .outerjoin(
        VFolderShareRow,
        and_(VFolderShareRow.vfolder_id == VFolderRow.id, VFolderShareRow.user_uuid == _ME),
    )
    .outerjoin(
        GroupMemberRow,
        and_(GroupMemberRow.group_id == VFolderRow.group_id, GroupMemberRow.user_id == _ME),
    )
    .outerjoin(UserRow, UserRow.uuid == VFolderRow.user_uuid)
    .outerjoin(GroupRow, GroupRow.id == VFolderRow.group_id)
    .where(
        or_(
            VFolderRow.user_uuid == _ME,
            GroupMemberRow.user_id.is_not(None),
            VFolderShareRow.user_uuid.is_not(None),
        )
    )
    .order_by(VFolderRow.created_at)
)


_MODES = {m.value: m for m in UsageMode}
_PERMISSIONS = {p.value: p for p in Permission}
_KINDS = {k.value: k for k in OwnershipType}


def _folder(fields: Sequence[Any]) -> VFolder:
    """A folder from its columns in VFolder's field order."""
    vfid, host, name, mode, perm, quota, cloneable, kind, user, group, creator, path, at, used = (
        fields
    )
    return VFolder(
        vfid, host, name, _MODES.get(mode) or UsageMode(mode),
        _PERMISSIONS.get(perm) or Permission(perm), quota, cloneable,
        _KINDS.get(kind) or OwnershipType(kind), user, group, creator, path, at, used,
    )  # fmt: skip


async def accessible(db: DbSession | AsyncConnection, user_uuid: uuid.UUID) -> list[Access]:
    """Every folder the user may reach: own first, then their groups', then shared ones,
    each with its owner's email or group name.

    An explicit share overrides a group folder's innate permission for that user. One
    query: folder lists are the busiest read, and each round trip costs more than the rows.
    """
    conn = db if isinstance(db, AsyncConnection) else await db.connection()
    result = await conn.execute(_ACCESSIBLE, {"me": user_uuid})
    return list(_accesses(result.all(), {"me": user_uuid}))


async def accessible_now(engine: AsyncEngine, user_uuid: uuid.UUID) -> list[Access]:
    """:func:`accessible` outside any transaction: a hot read (see hangar.db.hotread)."""
    return list(await _ACCESSIBLE_NOW.load(engine, {"me": user_uuid}))


def _accesses(rows: Rows, params: Mapping[str, Any]) -> tuple[Access, ...]:
    user_uuid = params["me"]
    ranked: list[tuple[int, Access]] = []
    for *fields, shared_as, member, email, group_name in rows:
        folder = _folder(fields)
        if folder.user_uuid == user_uuid:
            rank, perm, owner = 0, Permission.WD, True
        elif member is not None:
            rank, perm, owner = 1, Permission(shared_as or folder.permission), False
        else:
            rank, perm, owner = 2, Permission(shared_as), False
        ranked.append((rank, Access(folder, perm, owner, email, group_name)))
    ranked.sort(key=lambda pair: pair[0])  # stable: created_at order within each kind
    return tuple(access for _, access in ranked)


_ACCESSIBLE_NOW = HotQuery(_ACCESSIBLE, _accesses)


async def owner_labels(
    db: DbSession, folders: Sequence[VFolder]
) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    """(user uuid -> email, group id -> name) for the owners of ``folders``."""
    users = {f.user_uuid for f in folders if f.user_uuid is not None}
    groups = {f.group_id for f in folders if f.group_id is not None}
    emails: dict[uuid.UUID, str] = {}
    names: dict[uuid.UUID, str] = {}
    if users:
        for user_id, email in await db.execute(
            select(UserRow.uuid, UserRow.email).where(UserRow.uuid.in_(users))
        ):
            emails[user_id] = email
    if groups:
        for group_id, name in await db.execute(
            select(GroupRow.id, GroupRow.name).where(GroupRow.id.in_(groups))
        ):
            names[group_id] = name
    return emails, names


async def count_owned(db: DbSession, user_uuid: uuid.UUID) -> int:
    count = await db.scalar(
        select(func.count()).select_from(VFolderRow).where(VFolderRow.user_uuid == user_uuid)
    )
    return int(count or 0)


def _hosts(value: object) -> list[str]:
    """A list of host names; tolerates the string form ``"['local']"`` some clients send."""
    items = value if isinstance(value, list) else [value]
    hosts: list[str] = []
    for item in items:
        text = str(item).strip()
        if text.startswith("["):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                continue
            hosts += [str(p) for p in (parsed if isinstance(parsed, list | tuple) else [parsed])]
        elif text:
            hosts.append(text)
    return hosts


def policy_name(principal: Principal) -> ColumnElement[str | None]:
    """The name of the resource policy that limits ``principal``: its keypair's (read now,
    so a changed policy counts at once) or the one its credential came with."""
    if principal.access_key is not None:
        return (
            select(KeyPairRow.resource_policy)
            .where(KeyPairRow.access_key == principal.access_key)
            .scalar_subquery()
        )
    return literal(principal.resource_policy)


async def allowed_hosts(db: DbSession, principal: Principal) -> set[str]:
    """Hosts the principal's resource policy, the user's domain and groups allow."""
    allowed: set[str] = set()
    policy = await db.scalar(
        select(ResourcePolicyRow.allowed_vfolder_hosts).where(
            ResourcePolicyRow.name == policy_name(principal)
        )
    )
    allowed.update(_hosts(policy or []))
    domain = await db.scalar(
        select(DomainRow.allowed_vfolder_hosts).where(DomainRow.name == principal.domain_name)
    )
    allowed.update(_hosts(domain or []))
    groups = await group_ids_of(db, principal.user_uuid)
    if groups:
        for hosts in await db.scalars(
            select(GroupRow.allowed_vfolder_hosts).where(GroupRow.id.in_(groups))
        ):
            allowed.update(_hosts(hosts or []))
    return allowed


async def policy_limits(db: DbSession, principal: Principal) -> tuple[int, int]:
    """(max_vfolder_count, max_vfolder_size in bytes) of the principal's policy; 0 = none."""
    row = (
        await db.execute(
            select(ResourcePolicyRow.max_vfolder_count, ResourcePolicyRow.max_vfolder_size).where(
                ResourcePolicyRow.name == policy_name(principal)
            )
        )
    ).first()
    if row is None:
        return 0, 0
    return int(row[0] or 0), int(row[1] or 0)


async def find_group(db: DbSession, domain_name: str, ref: str) -> GroupRow | None:
    try:
        group_id = uuid.UUID(ref)
    except ValueError:
        return await db.scalar(
            select(GroupRow).where(GroupRow.domain_name == domain_name, GroupRow.name == ref)
        )
    return await db.get(GroupRow, group_id)


async def users_by_email(db: DbSession, emails: Sequence[str]) -> list[UserRow]:
    if not emails:
        return []
    rows = await db.scalars(select(UserRow).where(UserRow.email.in_(list(emails))))
    return list(rows)


async def sessions_mounting(
    db: DbSession, vfid: uuid.UUID
) -> list[tuple[uuid.UUID, str, uuid.UUID]]:
    """(id, name, owner's user uuid) of the sessions not yet over that mount the folder."""
    rows = await db.execute(
        select(SessionRow.id, SessionRow.name, SessionRow.user_uuid, SessionRow.mounts)
        .where(SessionRow.status.not_in([s.value for s in DEAD]))
        .order_by(SessionRow.created_at)
    )
    wanted = str(vfid)
    return [
        (sid, name, owner)
        for sid, name, owner, mounts in rows
        if any(isinstance(m, dict) and m.get("vfolder_id") == wanted for m in mounts or ())
    ]
