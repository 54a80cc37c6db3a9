"""Read-only views of keypairs and resource policies, scoped to what a caller may see.

Visibility (:func:`scope_of`): a superadmin (admin keypair, superadmin role) sees
everything, a domain admin (admin keypair, admin role) sees their domain, anyone else sees
their own objects only. The faces' listings (GraphQL ``keypair``, ``keypairs``,
``keypair_list``, ``keypair_resource_policy``...) come from here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.errors import Forbidden
from hangar.core.filters import Filter, OrderBy, Page, check_page
from hangar.core.identity.models import ResourcePolicy
from hangar.core.identity.repo import keypairs as repo
from hangar.core.identity.repo.keypairs import KEYPAIR_FIELDS as KEYPAIR_FIELDS
from hangar.core.identity.scope import Scope as Scope
from hangar.core.identity.scope import check_domain as check_domain
from hangar.core.identity.scope import scope_of as scope_of
from hangar.core.identity.views import KeyPairView as KeyPairView
from hangar.core.principal import Principal
from hangar.db.engine import DbSession


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
    scope = scope_of(caller)
    if scope == Scope.OWN and target != caller.access_key:
        raise Forbidden("You may only look at your own keypair.")
    if target is None:
        return None
    async with sessions() as db:
        views, _ = await repo.keypair_views(
            db, caller, scope, access_key=target, domain_name=domain_name
        )
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
    check_domain(caller, domain_name)
    async with sessions() as db:
        views, _ = await repo.keypair_views(
            db, caller, scope_of(caller), domain_name=domain_name, email=email, is_active=is_active
        )
    return views


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
    check_domain(caller, domain_name)
    scope = scope_of(caller)
    async with sessions() as db:
        items, total = await repo.keypair_views(
            db,
            caller,
            scope,
            domain_name=domain_name,
            email=email,
            is_active=is_active,
            filter=filter,
            order=order,
            limit=limit,
            offset=offset,
            count=True,
        )
    return Page(items, total)


async def resource_policy(
    sessions: async_sessionmaker[DbSession], caller: Principal, name: str | None = None
) -> ResourcePolicy | None:
    """The caller's keypair resource policy, or a named one.

    Admins see any policy; others only the policies of their own keypairs (None otherwise).
    """
    async with sessions() as db:
        if name is None:
            name = await repo.policy_of_keypair(db, caller.access_key)
            if name is None:
                return None
        elif scope_of(caller) == Scope.OWN and name not in await repo.policy_names_of_user(
            db, caller.user_uuid
        ):
            return None
        return await repo.find_policy(db, name)


async def resource_policies(
    sessions: async_sessionmaker[DbSession], caller: Principal
) -> list[ResourcePolicy]:
    """Every policy for admins; the policies of the caller's keypairs for others."""
    async with sessions() as db:
        if scope_of(caller) == Scope.OWN:
            return await repo.policies(db, await repo.policy_names_of_user(db, caller.user_uuid))
        return await repo.policies(db)
