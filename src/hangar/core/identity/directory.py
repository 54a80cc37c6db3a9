"""Read side of the directory: domains, groups (projects) and users, scoped to the caller.

Visibility follows :func:`~hangar.core.identity.scope.scope_of`: a superadmin sees every
domain, group and user; a domain admin sees those of their own domain (asking for another
domain is Forbidden); a user sees their own domain, the groups they belong to and themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.errors import Forbidden, InvalidRequest
from hangar.core.filters import Filter, OrderBy, Page, check_page
from hangar.core.identity.repo import directory as repo
from hangar.core.identity.repo.directory import USER_FIELDS as USER_FIELDS
from hangar.core.identity.scope import Scope, check_domain, scope_of
from hangar.core.identity.views import DomainView as DomainView
from hangar.core.identity.views import GroupRef as GroupRef
from hangar.core.identity.views import GroupView as GroupView
from hangar.core.identity.views import UserView as UserView
from hangar.core.principal import Principal
from hangar.db.engine import DbSession


def require_admin(caller: Principal) -> Scope:
    """The caller's scope when it is an admin one; Forbidden for plain users."""
    scope = scope_of(caller)
    if scope == Scope.OWN:
        raise Forbidden("Admin privilege required.")
    return scope


def require_superadmin(caller: Principal) -> None:
    if scope_of(caller) != Scope.ALL:
        raise Forbidden("Superadmin privilege required.")


# Domains ---------------------------------------------------------------------------------


async def domain(
    sessions: async_sessionmaker[DbSession], caller: Principal, name: str | None = None
) -> DomainView | None:
    """The caller's domain, or (superadmins) any domain. Forbidden for another domain."""
    name = name or caller.domain_name
    check_domain(caller, name)
    if name != caller.domain_name and scope_of(caller) != Scope.ALL:
        raise Forbidden("You may not look into another domain.")
    async with sessions() as db:
        return await repo.find_domain(db, name)


async def domains(
    sessions: async_sessionmaker[DbSession], caller: Principal, *, is_active: bool | None = None
) -> list[DomainView]:
    """Every domain (superadmins only)."""
    require_superadmin(caller)
    async with sessions() as db:
        return await repo.domain_views(db, is_active=is_active)


# Groups ----------------------------------------------------------------------------------


async def groups(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    domain_name: str | None = None,
    is_active: bool | None = None,
    name: str | None = None,
) -> list[GroupView]:
    """The visible groups, by domain and name. Forbidden for another domain."""
    check_domain(caller, domain_name)
    async with sessions() as db:
        return await repo.group_views(
            db, caller, scope_of(caller), domain_name=domain_name, is_active=is_active, name=name
        )


async def group(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    group_id: uuid.UUID,
    *,
    domain_name: str | None = None,
) -> GroupView | None:
    """A visible group by id (None when missing or out of sight)."""
    check_domain(caller, domain_name)
    async with sessions() as db:
        views = await repo.group_views(
            db, caller, scope_of(caller), group_id=group_id, domain_name=domain_name
        )
    return views[0] if views else None


# Users -----------------------------------------------------------------------------------


def _group_id(group_id: uuid.UUID | str | None) -> uuid.UUID | None:
    if group_id is None or isinstance(group_id, uuid.UUID):
        return group_id
    try:
        return uuid.UUID(str(group_id))
    except ValueError as exc:
        raise InvalidRequest(f"group_id is not a UUID: {group_id}") from exc


def _statuses(status: str | None) -> list[str] | None:
    return [s.strip() for s in status.split(",")] if status else None


async def users(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    domain_name: str | None = None,
    group_id: uuid.UUID | str | None = None,
    is_active: bool | None = None,
    status: str | None = None,
) -> list[UserView]:
    """Users an admin may see, newest first. Forbidden for plain users."""
    scope = require_admin(caller)
    check_domain(caller, domain_name)
    async with sessions() as db:
        found, _ = await repo.user_views(
            db,
            caller,
            scope,
            domain_name=domain_name,
            group_id=_group_id(group_id),
            is_active=is_active,
            statuses=_statuses(status),
        )
    return found


async def user_page(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    limit: int,
    offset: int,
    domain_name: str | None = None,
    group_id: uuid.UUID | str | None = None,
    is_active: bool | None = None,
    status: str | None = None,
    filter: Filter | None = None,
    order: Sequence[OrderBy] | None = None,
) -> Page[UserView]:
    check_page(limit, offset)
    scope = require_admin(caller)
    check_domain(caller, domain_name)
    async with sessions() as db:
        found, total = await repo.user_views(
            db,
            caller,
            scope,
            domain_name=domain_name,
            group_id=_group_id(group_id),
            is_active=is_active,
            statuses=_statuses(status),
            filter=filter,
            order=order,
            limit=limit,
            offset=offset,
            count=True,
        )
    return Page(found, total)


async def user(
    sessions: async_sessionmaker[DbSession],
    caller: Principal,
    *,
    email: str | None = None,
    user_uuid: uuid.UUID | None = None,
    domain_name: str | None = None,
) -> UserView | None:
    """The caller, or another user an admin may see. Forbidden for a user asking for others."""
    check_domain(caller, domain_name)
    if email is None and user_uuid is None:
        user_uuid = caller.user_uuid
    is_self = (email in (None, caller.email)) and (user_uuid in (None, caller.user_uuid))
    scope = scope_of(caller)
    if scope == Scope.OWN and not is_self:
        raise Forbidden("You may only look at your own account.")
    async with sessions() as db:
        found, _ = await repo.user_views(
            db, caller, scope, email=email, user_uuid=user_uuid, domain_name=domain_name
        )
    return found[0] if found else None
