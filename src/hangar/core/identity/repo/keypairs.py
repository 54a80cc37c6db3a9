"""Keypair and resource policy listings, limited to what a scope may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from hangar.core.filters import (
    Field,
    Filter,
    OrderBy,
    as_bool,
    as_datetime,
    as_int,
    compile_filter,
    compile_order,
)
from hangar.core.identity.models import ResourcePolicy
from hangar.core.identity.repo import keypair_from_row, policy_from_row
from hangar.core.identity.scope import Scope
from hangar.core.identity.views import KeyPairView
from hangar.core.principal import Principal
from hangar.db.engine import DbSession
from hangar.db.tables.base import HOLDING_STATUSES
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.identity import KeyPairRow, ResourcePolicyRow, UserRow

KEYPAIR_FIELDS: dict[str, Field] = {
    "access_key": Field(KeyPairRow.access_key),
    "user_id": Field(UserRow.email),
    "email": Field(UserRow.email),
    "full_name": Field(UserRow.full_name),
    "domain_name": Field(UserRow.domain_name),
    "is_active": Field(KeyPairRow.is_active, as_bool),
    "is_admin": Field(KeyPairRow.is_admin, as_bool),
    "resource_policy": Field(KeyPairRow.resource_policy),
    "rate_limit": Field(KeyPairRow.rate_limit, as_int),
    "num_queries": Field(KeyPairRow.num_queries, as_int),
    "created_at": Field(KeyPairRow.created_at, as_datetime),
    "modified_at": Field(KeyPairRow.modified_at, as_datetime),
    "last_used": Field(KeyPairRow.last_used, as_datetime),
}
_DEFAULT_ORDER = (KeyPairRow.created_at.desc(), KeyPairRow.access_key)


def _visible(caller: Principal, scope: Scope) -> list[ColumnElement[bool]]:
    if scope == Scope.ALL:
        return []
    if scope == Scope.DOMAIN:
        return [UserRow.domain_name == caller.domain_name]
    return [KeyPairRow.user_uuid == caller.user_uuid]


def _conditions(
    caller: Principal,
    scope: Scope,
    *,
    access_key: str | None,
    domain_name: str | None,
    email: str | None,
    is_active: bool | None,
    filter: Filter | None,
) -> list[ColumnElement[bool]]:
    conditions = _visible(caller, scope)
    if access_key is not None:
        conditions.append(KeyPairRow.access_key == access_key)
    if domain_name is not None:
        conditions.append(UserRow.domain_name == domain_name)
    if email is not None:
        conditions.append(UserRow.email == email)
    if is_active is not None:
        conditions.append(KeyPairRow.is_active.is_(is_active))
    compiled = compile_filter(filter, KEYPAIR_FIELDS)
    if compiled is not None:
        conditions.append(compiled)
    return conditions


def _base() -> Select[KeyPairRow, UserRow]:
    return select(KeyPairRow, UserRow).join(UserRow, UserRow.uuid == KeyPairRow.user_uuid)


async def _concurrency(db: DbSession, access_keys: Sequence[str]) -> dict[str, int]:
    if not access_keys:
        return {}
    stmt = (
        select(SessionRow.access_key, func.count())
        .where(
            SessionRow.access_key.in_(list(access_keys)),
            SessionRow.status.in_(HOLDING_STATUSES),
        )
        .group_by(SessionRow.access_key)
    )
    return {ak: int(n) for ak, n in (await db.execute(stmt)).all() if ak is not None}


async def _views(db: DbSession, rows: Sequence[Any]) -> list[KeyPairView]:
    used = await _concurrency(db, [kp.access_key for kp, _ in rows])
    return [
        KeyPairView(
            keypair=keypair_from_row(kp, user.email),
            user_full_name=user.full_name,
            domain_name=user.domain_name,
            modified_at=kp.modified_at,
            ssh_public_key=kp.ssh_public_key,
            concurrency_used=used.get(kp.access_key, 0),
        )
        for kp, user in rows
    ]


async def keypair_views(
    db: DbSession,
    caller: Principal,
    scope: Scope,
    *,
    access_key: str | None = None,
    domain_name: str | None = None,
    email: str | None = None,
    is_active: bool | None = None,
    filter: Filter | None = None,
    order: Sequence[OrderBy] | None = None,
    limit: int | None = None,
    offset: int = 0,
    count: bool = False,
) -> tuple[list[KeyPairView], int]:
    """The keypairs ``scope`` lets ``caller`` see that match (newest first by default), and
    how many match in all when ``count`` (else 0)."""
    conditions = _conditions(
        caller,
        scope,
        access_key=access_key,
        domain_name=domain_name,
        email=email,
        is_active=is_active,
        filter=filter,
    )
    ordering = compile_order(order, KEYPAIR_FIELDS, _DEFAULT_ORDER)
    total = 0
    if count:
        counting = (
            select(func.count())
            .select_from(KeyPairRow)
            .join(UserRow, UserRow.uuid == KeyPairRow.user_uuid)
            .where(*conditions)
        )
        total = int((await db.execute(counting)).scalar_one())
    stmt = _base().where(*conditions).order_by(*ordering)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return await _views(db, (await db.execute(stmt)).all()), total


async def policy_of_keypair(db: DbSession, access_key: str | None) -> str | None:
    """The resource policy's name of a keypair (None for an unknown one)."""
    row = await db.get(KeyPairRow, access_key)
    return None if row is None else row.resource_policy


async def find_policy(db: DbSession, name: str) -> ResourcePolicy | None:
    row = await db.get(ResourcePolicyRow, name)
    return policy_from_row(row) if row is not None else None


async def policies(db: DbSession, names: Sequence[str] | None = None) -> list[ResourcePolicy]:
    """Every resource policy, or those named, by name."""
    stmt = select(ResourcePolicyRow).order_by(ResourcePolicyRow.name)
    if names is not None:
        stmt = stmt.where(ResourcePolicyRow.name.in_(list(names)))
    return [policy_from_row(r) for r in (await db.execute(stmt)).scalars()]


async def policy_names_of_user(db: DbSession, user_uuid: uuid.UUID) -> list[str]:
    """The resource policies of a user's keypairs, by name."""
    stmt = select(KeyPairRow.resource_policy).where(KeyPairRow.user_uuid == user_uuid)
    return sorted(set((await db.execute(stmt)).scalars()))
