"""Read-only views of keypairs and resource policies, scoped to what a caller may see.

Visibility (:func:`scope_of`): a superadmin (admin keypair, superadmin role) sees
everything, a domain admin (admin keypair, admin role) sees their domain, anyone else sees
their own objects only. The faces' listings (GraphQL ``keypair``, ``keypairs``,
``keypair_list``, ``keypair_resource_policy``...) come from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.errors import Forbidden
from hangar.core.filters import (
    Field,
    Filter,
    OrderBy,
    Page,
    as_bool,
    as_datetime,
    as_int,
    check_page,
    compile_filter,
    compile_order,
)
from hangar.core.identity import repo
from hangar.core.identity.models import KeyPair, ResourcePolicy
from hangar.core.principal import Principal, Role
from hangar.db.engine import DbSession
from hangar.db.tables.base import HOLDING_STATUSES
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.identity import KeyPairRow, ResourcePolicyRow, UserRow


class Scope(StrEnum):
    ALL = "all"
    DOMAIN = "domain"
    OWN = "own"


def scope_of(caller: Principal) -> Scope:
    """How far the caller sees: the keypair's admin flag and the user's role both count."""
    if caller.is_admin and caller.role == Role.SUPERADMIN:
        return Scope.ALL
    if caller.is_admin and caller.role == Role.ADMIN:
        return Scope.DOMAIN
    return Scope.OWN


def check_domain(caller: Principal, domain_name: str | None) -> None:
    """Refuse a ``domain_name`` argument outside the caller's reach."""
    if domain_name is None or scope_of(caller) == Scope.ALL:
        return
    if domain_name != caller.domain_name:
        raise Forbidden("You may not look into another domain.")


@dataclass(frozen=True, slots=True)
class KeyPairView:
    """A keypair as listings show it: with its owner and how many sessions it runs."""

    keypair: KeyPair
    user_full_name: str
    domain_name: str
    modified_at: datetime
    ssh_public_key: str | None
    concurrency_used: int

    @property
    def access_key(self) -> str:
        return self.keypair.access_key


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


def _visible(caller: Principal) -> list[ColumnElement[bool]]:
    scope = scope_of(caller)
    if scope == Scope.ALL:
        return []
    if scope == Scope.DOMAIN:
        return [UserRow.domain_name == caller.domain_name]
    return [KeyPairRow.user_uuid == caller.user_uuid]


def _conditions(
    caller: Principal,
    *,
    domain_name: str | None,
    email: str | None,
    is_active: bool | None,
    filter: Filter | None,
) -> list[ColumnElement[bool]]:
    check_domain(caller, domain_name)
    conditions = _visible(caller)
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
            keypair=repo.keypair_from_row(kp, user.email),
            user_full_name=user.full_name,
            domain_name=user.domain_name,
            modified_at=kp.modified_at,
            ssh_public_key=kp.ssh_public_key,
            concurrency_used=used.get(kp.access_key, 0),
        )
        for kp, user in rows
    ]


async def keypair(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    access_key: str | None = None,
    domain_name: str | None = None,
) -> KeyPairView | None:
    """The caller's keypair, or another one the caller may see (None when not visible).

    Raises Forbidden for a user asking for someone else's key or a foreign domain.
    """
    check_domain(caller, domain_name)
    target = access_key or caller.access_key
    if scope_of(caller) == Scope.OWN and target != caller.access_key:
        raise Forbidden("You may only look at your own keypair.")
    stmt = _base().where(KeyPairRow.access_key == target, *_visible(caller))
    if domain_name is not None:
        stmt = stmt.where(UserRow.domain_name == domain_name)
    async with sessions() as db:
        rows = (await db.execute(stmt)).all()
        views = await _views(db, rows)
    return views[0] if views else None


async def keypairs(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    domain_name: str | None = None,
    email: str | None = None,
    is_active: bool | None = None,
) -> list[KeyPairView]:
    """Every keypair visible to the caller that matches, newest first."""
    conditions = _conditions(
        caller, domain_name=domain_name, email=email, is_active=is_active, filter=None
    )
    stmt = _base().where(*conditions).order_by(*_DEFAULT_ORDER)
    async with sessions() as db:
        return await _views(db, (await db.execute(stmt)).all())


async def keypair_page(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    limit: int,
    offset: int,
    domain_name: str | None = None,
    email: str | None = None,
    is_active: bool | None = None,
    filter: Filter | None = None,
    order: Sequence[OrderBy] | None = None,
) -> Page[KeyPairView]:
    """One page of the visible keypairs with the total number of matches."""
    check_page(limit, offset)
    conditions = _conditions(
        caller, domain_name=domain_name, email=email, is_active=is_active, filter=filter
    )
    ordering = compile_order(order, KEYPAIR_FIELDS, _DEFAULT_ORDER)
    stmt = _base().where(*conditions).order_by(*ordering).limit(limit).offset(offset)
    count = (
        select(func.count())
        .select_from(KeyPairRow)
        .join(UserRow, UserRow.uuid == KeyPairRow.user_uuid)
        .where(*conditions)
    )
    async with sessions() as db:
        total = int((await db.execute(count)).scalar_one())
        items = await _views(db, (await db.execute(stmt)).all()) if limit else []
    return Page(items, total)


async def resource_policy(
    sessions: async_sessionmaker[DbSession], caller: Principal, name: str | None = None
) -> ResourcePolicy | None:
    """The caller's keypair resource policy, or a named one.

    Admins see any policy; others only the policies of their own keypairs (None otherwise).
    """
    async with sessions() as db:
        if name is None:
            row = await db.get(KeyPairRow, caller.access_key)
            if row is None:
                return None
            name = row.resource_policy
        elif scope_of(caller) == Scope.OWN and name not in await _own_policy_names(db, caller):
            return None
        policy = await db.get(ResourcePolicyRow, name)
        return repo.policy_from_row(policy) if policy is not None else None


async def resource_policies(
    sessions: async_sessionmaker[DbSession], caller: Principal
) -> list[ResourcePolicy]:
    """Every policy for admins; the policies of the caller's keypairs for others."""
    stmt = select(ResourcePolicyRow).order_by(ResourcePolicyRow.name)
    async with sessions() as db:
        if scope_of(caller) == Scope.OWN:
            stmt = stmt.where(ResourcePolicyRow.name.in_(await _own_policy_names(db, caller)))
        return [repo.policy_from_row(r) for r in (await db.execute(stmt)).scalars()]


async def _own_policy_names(db: DbSession, caller: Principal) -> list[str]:
    stmt = select(KeyPairRow.resource_policy).where(KeyPairRow.user_uuid == caller.user_uuid)
    return sorted(set((await db.execute(stmt)).scalars()))
