"""Administration of users, keypairs, groups, domains and keypair resource policies.

Who may do what: a superadmin everything; a domain admin manages the users, keypairs and
groups of their own domain (never a superadmin's account or keys, never the superadmin
role); plain users nothing here. Every method raises Forbidden for a caller out of reach,
NotFound for an unknown target, AlreadyExists / InvalidRequest for bad input; each one is a
single transaction, so a refused call changes nothing. Groups, domains and policies are in
:mod:`hangar.core.identity.orgadmin`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import Conflict, Forbidden, InvalidRequest, NotFound
from hangar.core.identity import repo
from hangar.core.identity.directory import UserView
from hangar.core.identity.models import NewKeyPair, UserStatus
from hangar.core.identity.orgadmin import OrgAdmin, check_user_reach, parse_uuids
from hangar.core.identity.repo import accounts
from hangar.core.identity.repo.directory import user_view
from hangar.core.identity.secrets import hash_password
from hangar.core.identity.service import IdentityService
from hangar.core.principal import Principal, Role
from hangar.db.engine import DbSession

UNSET: Any = None  # fields left None in a change set keep their value


class UserPurgeHook(Protocol):
    """A part above identity that keeps a user's data outside identity's tables (the
    tracking file server). Asked before a purge; what it returns runs once it committed."""

    async def user_purging(
        self, user_uuid: uuid.UUID, domain_name: str
    ) -> Callable[[], Awaitable[None]]: ...


@dataclass(frozen=True, slots=True)
class UserChanges:
    username: str | None = None
    password: str | None = None
    need_password_change: bool | None = None
    full_name: str | None = None
    description: str | None = None
    is_active: bool | None = None
    status: str | None = None
    domain_name: str | None = None
    role: str | None = None
    group_ids: list[str] | None = None


@dataclass(frozen=True, slots=True)
class KeyPairChanges:
    is_active: bool | None = None
    is_admin: bool | None = None
    resource_policy: str | None = None
    rate_limit: int | None = None


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise InvalidRequest(f"role must be one of {', '.join(r.value for r in Role)}") from exc


def _status(value: str) -> UserStatus:
    try:
        return UserStatus(value)
    except ValueError as exc:
        choices = ", ".join(s.value for s in UserStatus)
        raise InvalidRequest(f"status must be one of {choices}") from exc


async def _user_fields(changes: UserChanges) -> dict[str, Any]:
    """The user's columns a change set sets (the password hashed)."""
    values: dict[str, Any] = {}
    for name in ("username", "full_name", "description", "need_password_change"):
        value = getattr(changes, name)
        if value is not None:
            values[name] = value
    if changes.status is not None:
        values["status"] = _status(changes.status).value
    elif changes.is_active is not None:
        values["status"] = (UserStatus.ACTIVE if changes.is_active else UserStatus.INACTIVE).value
    if changes.password:
        if len(changes.password) < 8:
            raise InvalidRequest("password must be at least 8 characters")
        values["password_hash"] = await asyncio.to_thread(hash_password, changes.password)
    return values


class IdentityAdmin(OrgAdmin):
    def __init__(
        self, sessions: async_sessionmaker[DbSession], clock: Clock, identity: IdentityService
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._identity = identity
        self._purge_hooks: list[UserPurgeHook] = []

    def on_user_purge(self, hook: UserPurgeHook) -> None:
        """Tell ``hook`` of every user's purge (wired once the parts above are built)."""
        self._purge_hooks.append(hook)

    # Users -------------------------------------------------------------------------------

    async def create_user(
        self,
        caller: Principal,
        *,
        email: str,
        password: str,
        username: str | None,
        full_name: str = "",
        description: str = "",
        status: str = "active",
        is_active: bool = True,
        need_password_change: bool = False,
        domain_name: str = "default",
        role: str = "user",
        group_ids: list[str] | None = None,
    ) -> UserView:
        check_user_reach(caller, domain_name, _role(role).value)
        user_status = _status(status) if is_active else UserStatus.INACTIVE
        created = await self._identity.create_user(
            email=email,
            password=password,
            role=_role(role),
            domain_name=domain_name,
            group_name=None,
            username=username or email,
            full_name=full_name,
            status=user_status,
        )
        extra = {"description": description, "need_password_change": need_password_change}
        async with self._sessions() as db, db.begin():
            await accounts.update_user(db, created.uuid, extra)
            if group_ids:
                ids = parse_uuids(group_ids, "group_ids")
                await accounts.set_memberships(db, created.uuid, created.domain_name, ids)
            else:
                default = await repo.find_group(db, domain_name, "default")
                if default is not None:
                    await accounts.add_member(db, created.uuid, default.id)
        return await self._user_view(created.uuid)

    async def _user_view(self, user_uuid: uuid.UUID) -> UserView:
        async with self._sessions() as db:
            view = await user_view(db, user_uuid)
        if view is None:
            raise NotFound("user")
        return view

    async def modify_user(self, caller: Principal, email: str, changes: UserChanges) -> UserView:
        async with self._sessions() as db, db.begin():
            row = await repo.get_user_row_by_email(db, email)
            check_user_reach(caller, row.domain_name, row.role)
            values: dict[str, Any] = {}
            if changes.domain_name is not None and changes.domain_name != row.domain_name:
                check_user_reach(caller, changes.domain_name, row.role)
                if not await accounts.domain_exists(db, changes.domain_name):
                    raise NotFound("domain")
                values["domain_name"] = changes.domain_name
            if changes.role is not None:
                role = _role(changes.role)
                if role == Role.SUPERADMIN and not caller.is_superadmin:
                    raise Forbidden("Only a superadmin may grant the superadmin role.")
                if row.uuid == caller.user_uuid and role != Role(row.role):
                    raise InvalidRequest("You may not change your own role.")
                values["role"] = role.value
            values.update(await _user_fields(changes))
            domain_name = values.get("domain_name", row.domain_name)
            if changes.group_ids is not None:
                ids = parse_uuids(changes.group_ids, "group_ids")
                await accounts.set_memberships(db, row.uuid, domain_name, ids)
            values["modified_at"] = self._clock.now()
            await accounts.update_user(db, row.uuid, values)
            keys = await accounts.access_keys_of(db, row.uuid)
        self._identity.forget_credentials(keys)
        return await self._user_view(row.uuid)

    async def delete_user(self, caller: Principal, email: str) -> None:
        """Mark the user deleted and deactivate their keypairs (the rows stay)."""
        async with self._sessions() as db, db.begin():
            row = await repo.get_user_row_by_email(db, email)
            check_user_reach(caller, row.domain_name, row.role)
            if row.uuid == caller.user_uuid:
                raise InvalidRequest("You may not delete your own account.")
            now = self._clock.now()
            values = {"status": UserStatus.DELETED.value, "modified_at": now}
            await accounts.update_user(db, row.uuid, values)
            await accounts.deactivate_keypairs_of(db, row.uuid, now)
            keys = await accounts.access_keys_of(db, row.uuid)
        self._identity.forget_credentials(keys)

    async def purge_user(self, caller: Principal, email: str) -> None:
        """Remove the user, their keypairs and finished sessions. Conflict while any runs."""
        async with self._sessions() as db:
            row = await repo.get_user_row_by_email(db, email)
        check_user_reach(caller, row.domain_name, row.role)
        if row.uuid == caller.user_uuid:
            raise InvalidRequest("You may not purge your own account.")
        after = [await hook.user_purging(row.uuid, row.domain_name) for hook in self._purge_hooks]
        async with self._sessions() as db, db.begin():
            if await accounts.live_sessions_of_user(db, row.uuid):
                raise Conflict("The user still has sessions; terminate them first.")
            keys = await accounts.access_keys_of(db, row.uuid)
            await accounts.purge_user(db, row.uuid)
        self._identity.forget_credentials(keys)
        for purged in after:
            await purged()

    # Keypairs ----------------------------------------------------------------------------

    async def create_keypair(
        self,
        caller: Principal,
        *,
        email: str,
        is_active: bool = True,
        is_admin: bool = False,
        resource_policy: str = "default",
        rate_limit: int | None = None,
    ) -> NewKeyPair:
        async with self._sessions() as db:
            user = await repo.get_user_row_by_email(db, email)
        check_user_reach(caller, user.domain_name, user.role)
        issued = await self._identity.issue_keypair(
            email=email, is_admin=is_admin, resource_policy=resource_policy, rate_limit=rate_limit
        )
        if not is_active:
            await self._identity.set_keypair_active(issued.keypair.access_key, False)
        return issued

    async def _check_keypair_reach(self, db: DbSession, caller: Principal, access_key: str) -> None:
        found = await repo.find_keypair_with_user(db, access_key)
        if found is None:
            raise NotFound("keypair")
        _, owner = found
        check_user_reach(caller, owner.domain_name, owner.role)

    async def modify_keypair(
        self, caller: Principal, access_key: str, changes: KeyPairChanges
    ) -> None:
        async with self._sessions() as db, db.begin():
            await self._check_keypair_reach(db, caller, access_key)
            values: dict[str, Any] = {}
            if changes.resource_policy is not None:
                await repo.get_policy(db, changes.resource_policy)
                values["resource_policy"] = changes.resource_policy
            if changes.rate_limit is not None:
                if changes.rate_limit < 0:
                    raise InvalidRequest("rate_limit must not be negative")
                values["rate_limit"] = changes.rate_limit
            if changes.is_admin is not None:
                values["is_admin"] = changes.is_admin
            if changes.is_active is not None:
                if not changes.is_active and access_key == caller.access_key:
                    raise InvalidRequest("You may not deactivate the keypair you are using.")
                values["is_active"] = changes.is_active
            values["modified_at"] = self._clock.now()
            await accounts.update_keypair(db, access_key, values)
        self._identity.forget_credentials([access_key])

    async def delete_keypair(self, caller: Principal, access_key: str) -> None:
        async with self._sessions() as db, db.begin():
            await self._check_keypair_reach(db, caller, access_key)
            if access_key == caller.access_key:
                raise InvalidRequest("You may not delete the keypair you are using.")
            if await accounts.sessions_of_keypair(db, access_key):
                # sessions keep referring to it: deactivate instead
                await accounts.update_keypair(db, access_key, {"is_active": False})
            else:
                await accounts.delete_keypair(db, access_key)
        self._identity.forget_credentials([access_key])

    async def regenerate_keypair(self, caller: Principal, access_key: str) -> str:
        """Issue a new secret key for the keypair; returns it (the only time it is shown)."""
        async with self._sessions() as db:
            await self._check_keypair_reach(db, caller, access_key)
        return await self._identity.regenerate_secret(access_key)
