"""Identity persistence: loads rows, returns domain objects."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from hangar.core.errors import NotFound
from hangar.core.identity.models import (
    DefaultForUnspecified,
    Group,
    KeyPair,
    ResourcePolicy,
    User,
    UserStatus,
)
from hangar.core.principal import ADMIN_SCOPE, Credential, CredentialKind, Principal, Role
from hangar.db.engine import DbSession
from hangar.db.tables.identity import (
    GroupMemberRow,
    GroupRow,
    KeyPairRow,
    LoginSessionRow,
    ResourcePolicyRow,
    UserRow,
)


def user_from_row(row: UserRow) -> User:
    return User(
        uuid=row.uuid,
        username=row.username,
        email=row.email,
        full_name=row.full_name,
        role=Role(row.role),
        status=UserStatus(row.status),
        domain_name=row.domain_name,
        need_password_change=row.need_password_change,
        created_at=row.created_at,
    )


def keypair_from_row(row: KeyPairRow, email: str) -> KeyPair:
    return KeyPair(
        access_key=row.access_key,
        user_uuid=row.user_uuid,
        user_email=email,
        is_active=row.is_active,
        is_admin=row.is_admin,
        resource_policy=row.resource_policy,
        rate_limit=row.rate_limit,
        num_queries=row.num_queries,
        created_at=row.created_at,
        last_used=row.last_used,
    )


def caller_from_rows(kp: KeyPairRow, user: UserRow) -> Principal:
    """The principal of a Backend.AI keypair: its user, with the keypair as credential (its
    admin flag as the admin scope, its resource policy and rate limit as the limits)."""
    return Principal(
        user_uuid=user.uuid,
        email=user.email,
        domain_name=user.domain_name,
        role=Role(user.role),
        credential=Credential(CredentialKind.BAI_KEYPAIR, kp.access_key),
        scopes=frozenset({ADMIN_SCOPE}) if kp.is_admin else frozenset(),
        resource_policy=kp.resource_policy,
        rate_limit=kp.rate_limit,
    )


def policy_from_row(row: ResourcePolicyRow) -> ResourcePolicy:
    return ResourcePolicy(
        name=row.name,
        default_for_unspecified=DefaultForUnspecified(row.default_for_unspecified),
        total_resource_slots=dict(row.total_resource_slots),
        max_session_lifetime=row.max_session_lifetime,
        max_concurrent_sessions=row.max_concurrent_sessions,
        max_containers_per_session=row.max_containers_per_session,
        idle_timeout=row.idle_timeout,
        max_vfolder_count=row.max_vfolder_count,
        max_vfolder_size=row.max_vfolder_size,
        allowed_vfolder_hosts=list(row.allowed_vfolder_hosts),
        created_at=row.created_at,
    )


async def find_user_row_by_email(db: DbSession, email: str) -> UserRow | None:
    return (await db.execute(select(UserRow).where(UserRow.email == email))).scalar_one_or_none()


async def get_user_row_by_email(db: DbSession, email: str) -> UserRow:
    row = await find_user_row_by_email(db, email)
    if row is None:
        raise NotFound("user")
    return row


async def get_user_row(db: DbSession, user_uuid: uuid.UUID) -> UserRow:
    row = await db.get(UserRow, user_uuid)
    if row is None:
        raise NotFound("user")
    return row


async def count_users(db: DbSession) -> int:
    return len((await db.execute(select(UserRow.uuid).limit(1))).all())


async def find_keypair_with_user(
    db: DbSession, access_key: str
) -> tuple[KeyPairRow, UserRow] | None:
    stmt = (
        select(KeyPairRow, UserRow)
        .join(UserRow, UserRow.uuid == KeyPairRow.user_uuid)
        .where(KeyPairRow.access_key == access_key)
    )
    row = (await db.execute(stmt)).one_or_none()
    return None if row is None else (row[0], row[1])


async def get_keypair_row(db: DbSession, access_key: str) -> KeyPairRow:
    row = await db.get(KeyPairRow, access_key)
    if row is None:
        raise NotFound("keypair")
    return row


async def list_keypairs(
    db: DbSession, *, email: str | None = None, is_active: bool | None = None
) -> list[KeyPair]:
    stmt = select(KeyPairRow, UserRow.email).join(UserRow, UserRow.uuid == KeyPairRow.user_uuid)
    if email is not None:
        stmt = stmt.where(UserRow.email == email)
    if is_active is not None:
        stmt = stmt.where(KeyPairRow.is_active == is_active)
    stmt = stmt.order_by(KeyPairRow.created_at, KeyPairRow.access_key)
    return [keypair_from_row(kp, mail) for kp, mail in (await db.execute(stmt)).all()]


async def main_keypair_of(db: DbSession, user_uuid: uuid.UUID) -> KeyPairRow | None:
    """The user's oldest active keypair: the one console logins act with."""
    stmt = (
        select(KeyPairRow)
        .where(KeyPairRow.user_uuid == user_uuid, KeyPairRow.is_active.is_(True))
        .order_by(KeyPairRow.created_at, KeyPairRow.access_key)
        .limit(1)
    )
    return (await db.execute(stmt)).scalar_one_or_none()


async def list_users(db: DbSession) -> list[User]:
    rows = (await db.execute(select(UserRow).order_by(UserRow.created_at))).scalars()
    return [user_from_row(r) for r in rows]


async def get_policy(db: DbSession, name: str) -> ResourcePolicy:
    row = await db.get(ResourcePolicyRow, name)
    if row is None:
        raise NotFound("resource policy")
    return policy_from_row(row)


async def find_group(db: DbSession, domain_name: str, name: str) -> Group | None:
    row = (
        await db.execute(
            select(GroupRow).where(GroupRow.domain_name == domain_name, GroupRow.name == name)
        )
    ).scalar_one_or_none()
    return _group(row) if row is not None else None


async def find_group_by_id(db: DbSession, group_id: uuid.UUID) -> Group | None:
    row = await db.get(GroupRow, group_id)
    return _group(row) if row is not None else None


def _group(row: GroupRow) -> Group:
    return Group(
        id=row.id,
        name=row.name,
        domain_name=row.domain_name,
        description=row.description,
        is_active=row.is_active,
        created_at=row.created_at,
    )


async def add_usage(db: DbSession, usage: Sequence[tuple[str, int, datetime]]) -> None:
    """Add query counts and move ``last_used`` forward for each (access_key, count, when)."""
    for access_key, count, when in usage:
        await db.execute(
            update(KeyPairRow)
            .where(KeyPairRow.access_key == access_key)
            .values(num_queries=KeyPairRow.num_queries + count, last_used=when)
        )


async def find_login_session(
    db: DbSession, token_hash: str
) -> tuple[LoginSessionRow, KeyPairRow, UserRow] | None:
    stmt = (
        select(LoginSessionRow, KeyPairRow, UserRow)
        .join(KeyPairRow, KeyPairRow.access_key == LoginSessionRow.access_key)
        .join(UserRow, UserRow.uuid == LoginSessionRow.user_uuid)
        .where(LoginSessionRow.token_hash == token_hash)
    )
    row = (await db.execute(stmt)).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


async def is_group_member(
    db: DbSession, user_uuid: uuid.UUID, domain_name: str, group: str
) -> bool:
    """Whether the user belongs to the group given by id or by name within the domain."""
    stmt = select(GroupMemberRow.group_id).join(GroupRow, GroupRow.id == GroupMemberRow.group_id)
    stmt = stmt.where(GroupMemberRow.user_id == user_uuid)
    try:
        stmt = stmt.where(GroupRow.id == uuid.UUID(group))
    except ValueError:
        stmt = stmt.where(GroupRow.domain_name == domain_name, GroupRow.name == group)
    return (await db.execute(stmt.limit(1))).first() is not None
