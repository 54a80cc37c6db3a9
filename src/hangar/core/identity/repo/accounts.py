"""Writes to users, keypairs, memberships and console logins."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from hangar.core.errors import AlreadyExists, Conflict, InvalidRequest, NotFound
from hangar.core.identity.models import KeyPair, User
from hangar.core.identity.repo import (
    caller_from_rows,
    find_user_row_by_email,
    get_keypair_row,
    keypair_from_row,
    main_keypair_of,
    user_from_row,
)
from hangar.core.principal import Principal
from hangar.db.engine import DbSession
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.identity import (
    DomainRow,
    GroupMemberRow,
    GroupRow,
    KeyPairRow,
    LoginSessionRow,
    UserRow,
)

_ENDED = ("TERMINATED", "CANCELLED", "ERROR")


@dataclass(frozen=True, slots=True)
class MainKey:
    """The keypair a user's console logins act with, and its encrypted secret."""

    keypair: KeyPair
    secret_encrypted: str
    principal: Principal


@dataclass(frozen=True, slots=True)
class Account:
    """A user as a password check needs them."""

    user: User
    password_hash: str
    main: MainKey | None


async def find_account(db: DbSession, email: str) -> Account | None:
    user = await find_user_row_by_email(db, email)
    if user is None:
        return None
    kp = await main_keypair_of(db, user.uuid)
    main = None
    if kp is not None:
        main = MainKey(
            keypair_from_row(kp, user.email), kp.secret_key_encrypted, caller_from_rows(kp, user)
        )
    return Account(user_from_row(user), user.password_hash, main)


async def domain_exists(db: DbSession, name: str) -> bool:
    return await db.get(DomainRow, name) is not None


# Users -----------------------------------------------------------------------------------


async def insert_user(db: DbSession, **fields: Any) -> User:
    """Add a user (``fields`` are the user's columns). Raises AlreadyExists for a taken
    email or username."""
    row = UserRow(**fields)
    db.add(row)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise AlreadyExists("A user with this email or username already exists.") from exc
    return user_from_row(row)


async def add_member(db: DbSession, user_uuid: uuid.UUID, group_id: uuid.UUID) -> None:
    db.add(GroupMemberRow(user_id=user_uuid, group_id=group_id))


async def set_memberships(
    db: DbSession, user_uuid: uuid.UUID, domain_name: str, group_ids: Sequence[uuid.UUID]
) -> None:
    """Make the user a member of exactly these groups of their domain. Raises
    InvalidRequest for an unknown group or one of another domain."""
    stmt = select(GroupRow).where(GroupRow.id.in_(list(group_ids)))
    rows = list((await db.execute(stmt)).scalars())
    if len(rows) != len(set(group_ids)) or any(g.domain_name != domain_name for g in rows):
        raise InvalidRequest("group_ids must name groups of the user's domain")
    await db.execute(delete(GroupMemberRow).where(GroupMemberRow.user_id == user_uuid))
    for gid in set(group_ids):
        db.add(GroupMemberRow(user_id=user_uuid, group_id=gid))


async def update_user(db: DbSession, user_uuid: uuid.UUID, values: dict[str, Any]) -> None:
    """Set columns of a user. Raises NotFound, or AlreadyExists for a taken username."""
    row = await db.get(UserRow, user_uuid)
    if row is None:
        raise NotFound("user")
    for name, value in values.items():
        setattr(row, name, value)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise AlreadyExists("A user with this username already exists.") from exc


async def set_user_columns(db: DbSession, user_uuid: uuid.UUID, values: dict[str, Any]) -> None:
    """Set columns of a user by one UPDATE (nothing for an unknown user)."""
    await db.execute(update(UserRow).where(UserRow.uuid == user_uuid).values(values))


async def access_keys_of(db: DbSession, user_uuid: uuid.UUID) -> list[str]:
    stmt = select(KeyPairRow.access_key).where(KeyPairRow.user_uuid == user_uuid)
    return list((await db.execute(stmt)).scalars())


async def deactivate_keypairs_of(
    db: DbSession, user_uuid: uuid.UUID, now: datetime | None = None
) -> None:
    values: dict[str, Any] = {"is_active": False}
    if now is not None:
        values["modified_at"] = now
    await db.execute(update(KeyPairRow).where(KeyPairRow.user_uuid == user_uuid).values(values))


async def live_sessions_of_user(db: DbSession, user_uuid: uuid.UUID) -> int:
    live = select(func.count()).where(
        SessionRow.user_uuid == user_uuid, SessionRow.status.notin_(_ENDED)
    )
    return int((await db.execute(live)).scalar_one())


async def purge_user(db: DbSession, user_uuid: uuid.UUID) -> None:
    """Delete the user with their sessions, keypairs and memberships. Raises Conflict while
    they still own other data."""
    await db.execute(delete(SessionRow).where(SessionRow.user_uuid == user_uuid))
    await db.execute(delete(KeyPairRow).where(KeyPairRow.user_uuid == user_uuid))
    await db.execute(delete(GroupMemberRow).where(GroupMemberRow.user_id == user_uuid))
    row = await db.get(UserRow, user_uuid)
    if row is None:
        raise NotFound("user")
    await db.delete(row)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise Conflict("The user still owns data (folders, templates).") from exc


# Keypairs --------------------------------------------------------------------------------


async def insert_keypair(db: DbSession, email: str, **fields: Any) -> KeyPair:
    """Add a keypair (``fields`` are its columns) of the user with this email."""
    row = KeyPairRow(**fields)
    db.add(row)
    return keypair_from_row(row, email)


async def keypair_owner(db: DbSession, access_key: str) -> uuid.UUID | None:
    row = await db.get(KeyPairRow, access_key)
    return None if row is None else row.user_uuid


async def update_keypair(db: DbSession, access_key: str, values: dict[str, Any]) -> bool:
    """Set columns of a keypair; returns whether it was active before. Raises NotFound."""
    row = await get_keypair_row(db, access_key)
    was_active = row.is_active
    for name, value in values.items():
        setattr(row, name, value)
    return was_active


async def delete_keypair(db: DbSession, access_key: str) -> None:
    """Delete a keypair. Raises NotFound."""
    await db.delete(await get_keypair_row(db, access_key))


async def sessions_of_keypair(db: DbSession, access_key: str) -> int:
    used = select(func.count()).where(SessionRow.access_key == access_key)
    return int((await db.execute(used)).scalar_one())


# Console logins --------------------------------------------------------------------------


async def add_login_session(db: DbSession, **fields: Any) -> None:
    db.add(LoginSessionRow(**fields))


async def delete_login_session(db: DbSession, token_hash: str) -> None:
    await db.execute(delete(LoginSessionRow).where(LoginSessionRow.token_hash == token_hash))
