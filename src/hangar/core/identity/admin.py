"""Administration of users, keypairs, groups, domains and keypair resource policies.

Who may do what: a superadmin everything; a domain admin manages the users, keypairs and
groups of their own domain (never a superadmin's account or keys, never the superadmin
role); plain users nothing here. Every method raises Forbidden for a caller out of reach,
NotFound for an unknown target, AlreadyExists / InvalidRequest for bad input; each one is a
single transaction, so a refused call changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import AlreadyExists, Conflict, Forbidden, InvalidRequest, NotFound
from hangar.core.identity import directory, repo
from hangar.core.identity.directory import require_admin, require_superadmin
from hangar.core.identity.models import (
    DefaultForUnspecified,
    NewKeyPair,
    ResourcePolicy,
    UserStatus,
)
from hangar.core.identity.queries import Scope
from hangar.core.identity.secrets import hash_password
from hangar.core.identity.service import IdentityService
from hangar.core.principal import Principal, Role
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

UNSET: Any = None  # fields left None in a change set keep their value


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


def check_user_reach(caller: Principal, domain_name: str, role: str) -> None:
    """Refuse touching an account outside a domain admin's domain, or a superadmin's."""
    scope = require_admin(caller)
    if scope == Scope.DOMAIN and (
        domain_name != caller.domain_name or role == Role.SUPERADMIN.value
    ):
        raise Forbidden("A domain admin manages only the non-superadmin users of their domain.")


def _check_group_reach(caller: Principal, domain_name: str) -> None:
    scope = require_admin(caller)
    if scope == Scope.DOMAIN and domain_name != caller.domain_name:
        raise Forbidden("A domain admin manages only the groups of their domain.")


async def _user_row(db: DbSession, email: str) -> UserRow:
    return await repo.get_user_row_by_email(db, email)


def _parse_uuids(values: list[str], what: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(str(v)) for v in values]
    except ValueError as exc:
        raise InvalidRequest(f"{what} must be UUIDs") from exc


async def _set_memberships(db: DbSession, user: UserRow, group_ids: list[str]) -> None:
    ids = _parse_uuids(group_ids, "group_ids")
    rows = list((await db.execute(select(GroupRow).where(GroupRow.id.in_(ids)))).scalars())
    if len(rows) != len(set(ids)) or any(g.domain_name != user.domain_name for g in rows):
        raise InvalidRequest("group_ids must name groups of the user's domain")
    await db.execute(delete(GroupMemberRow).where(GroupMemberRow.user_id == user.uuid))
    for gid in set(ids):
        db.add(GroupMemberRow(user_id=user.uuid, group_id=gid))


class IdentityAdmin:
    def __init__(
        self, sessions: async_sessionmaker[DbSession], clock: Clock, identity: IdentityService
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._identity = identity

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
    ) -> directory.UserView:
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
        async with self._sessions() as db, db.begin():
            row = await repo.get_user_row(db, created.uuid)
            row.description, row.need_password_change = description, need_password_change
            if group_ids:
                await _set_memberships(db, row, group_ids)
            else:
                default = await repo.find_group(db, domain_name, "default")
                if default is not None:
                    db.add(GroupMemberRow(user_id=row.uuid, group_id=default.id))
        return await self._user_view(created.uuid)

    async def _user_view(self, user_uuid: uuid.UUID) -> directory.UserView:
        async with self._sessions() as db:
            row = await repo.get_user_row(db, user_uuid)
            return (await directory._user_views(db, [row]))[0]

    async def modify_user(
        self, caller: Principal, email: str, changes: UserChanges
    ) -> directory.UserView:
        async with self._sessions() as db, db.begin():
            row = await _user_row(db, email)
            check_user_reach(caller, row.domain_name, row.role)
            if changes.domain_name is not None and changes.domain_name != row.domain_name:
                check_user_reach(caller, changes.domain_name, row.role)
                if await db.get(DomainRow, changes.domain_name) is None:
                    raise NotFound("domain")
                row.domain_name = changes.domain_name
            if changes.role is not None:
                role = _role(changes.role)
                if role == Role.SUPERADMIN and not caller.is_superadmin:
                    raise Forbidden("Only a superadmin may grant the superadmin role.")
                if row.uuid == caller.user_uuid and role != Role(row.role):
                    raise InvalidRequest("You may not change your own role.")
                row.role = role.value
            await self._apply_user_fields(row, changes)
            if changes.group_ids is not None:
                await _set_memberships(db, row, changes.group_ids)
            row.modified_at = self._clock.now()
            try:
                await db.flush()
            except IntegrityError as exc:
                raise AlreadyExists("A user with this username already exists.") from exc
            keys = await self._keys_of(db, row.uuid)
        self._identity.forget_credentials(keys)
        return await self._user_view(row.uuid)

    async def _apply_user_fields(self, row: UserRow, changes: UserChanges) -> None:
        for name in ("username", "full_name", "description", "need_password_change"):
            value = getattr(changes, name)
            if value is not None:
                setattr(row, name, value)
        if changes.status is not None:
            row.status = _status(changes.status).value
        elif changes.is_active is not None:
            row.status = (UserStatus.ACTIVE if changes.is_active else UserStatus.INACTIVE).value
        if changes.password:
            if len(changes.password) < 8:
                raise InvalidRequest("password must be at least 8 characters")
            row.password_hash = await asyncio.to_thread(hash_password, changes.password)

    async def _keys_of(self, db: DbSession, user_uuid: uuid.UUID) -> list[str]:
        stmt = select(KeyPairRow.access_key).where(KeyPairRow.user_uuid == user_uuid)
        return list((await db.execute(stmt)).scalars())

    async def delete_user(self, caller: Principal, email: str) -> None:
        """Mark the user deleted and deactivate their keypairs (the rows stay)."""
        async with self._sessions() as db, db.begin():
            row = await _user_row(db, email)
            check_user_reach(caller, row.domain_name, row.role)
            if row.uuid == caller.user_uuid:
                raise InvalidRequest("You may not delete your own account.")
            row.status, row.modified_at = UserStatus.DELETED.value, self._clock.now()
            await db.execute(
                update(KeyPairRow)
                .where(KeyPairRow.user_uuid == row.uuid)
                .values(is_active=False, modified_at=self._clock.now())
            )
            keys = await self._keys_of(db, row.uuid)
        self._identity.forget_credentials(keys)

    async def purge_user(self, caller: Principal, email: str) -> None:
        """Remove the user, their keypairs and finished sessions. Conflict while any runs."""
        async with self._sessions() as db, db.begin():
            row = await _user_row(db, email)
            check_user_reach(caller, row.domain_name, row.role)
            if row.uuid == caller.user_uuid:
                raise InvalidRequest("You may not purge your own account.")
            live = select(func.count()).where(
                SessionRow.user_uuid == row.uuid,
                SessionRow.status.notin_(["TERMINATED", "CANCELLED", "ERROR"]),
            )
            if int((await db.execute(live)).scalar_one()):
                raise Conflict("The user still has sessions; terminate them first.")
            keys = await self._keys_of(db, row.uuid)
            await db.execute(delete(SessionRow).where(SessionRow.user_uuid == row.uuid))
            await db.execute(delete(KeyPairRow).where(KeyPairRow.user_uuid == row.uuid))
            await db.execute(delete(GroupMemberRow).where(GroupMemberRow.user_id == row.uuid))
            await db.delete(row)
            try:
                await db.flush()
            except IntegrityError as exc:
                raise Conflict("The user still owns data (folders, templates).") from exc
        self._identity.forget_credentials(keys)

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
            user = await _user_row(db, email)
        check_user_reach(caller, user.domain_name, user.role)
        issued = await self._identity.issue_keypair(
            email=email, is_admin=is_admin, resource_policy=resource_policy, rate_limit=rate_limit
        )
        if not is_active:
            await self._identity.set_keypair_active(issued.keypair.access_key, False)
        return issued

    async def _keypair_in_reach(
        self, db: DbSession, caller: Principal, access_key: str
    ) -> KeyPairRow:
        found = await repo.find_keypair_with_user(db, access_key)
        if found is None:
            raise NotFound("keypair")
        kp, owner = found
        check_user_reach(caller, owner.domain_name, owner.role)
        return kp

    async def modify_keypair(
        self, caller: Principal, access_key: str, changes: KeyPairChanges
    ) -> None:
        async with self._sessions() as db, db.begin():
            kp = await self._keypair_in_reach(db, caller, access_key)
            if changes.resource_policy is not None:
                await repo.get_policy(db, changes.resource_policy)
                kp.resource_policy = changes.resource_policy
            if changes.rate_limit is not None:
                if changes.rate_limit < 0:
                    raise InvalidRequest("rate_limit must not be negative")
                kp.rate_limit = changes.rate_limit
            if changes.is_admin is not None:
                kp.is_admin = changes.is_admin
            if changes.is_active is not None:
                if not changes.is_active and access_key == caller.access_key:
                    raise InvalidRequest("You may not deactivate the keypair you are using.")
                kp.is_active = changes.is_active
            kp.modified_at = self._clock.now()
        self._identity.forget_credentials([access_key])

    async def delete_keypair(self, caller: Principal, access_key: str) -> None:
        async with self._sessions() as db, db.begin():
            kp = await self._keypair_in_reach(db, caller, access_key)
            if access_key == caller.access_key:
                raise InvalidRequest("You may not delete the keypair you are using.")
            used = select(func.count()).where(SessionRow.access_key == access_key)
            if int((await db.execute(used)).scalar_one()):
                kp.is_active = False  # sessions keep referring to it: deactivate instead
            else:
                await db.delete(kp)
        self._identity.forget_credentials([access_key])

    async def regenerate_keypair(self, caller: Principal, access_key: str) -> str:
        """Issue a new secret key for the keypair; returns it (the only time it is shown)."""
        async with self._sessions() as db:
            await self._keypair_in_reach(db, caller, access_key)
        return await self._identity.regenerate_secret(access_key)

    # Groups ------------------------------------------------------------------------------

    async def create_group(
        self,
        caller: Principal,
        *,
        name: str,
        domain_name: str,
        description: str = "",
        is_active: bool = True,
        total_resource_slots: dict[str, Any] | None = None,
        allowed_vfolder_hosts: list[str] | None = None,
        integration_id: str | None = None,
    ) -> directory.GroupView:
        _check_group_reach(caller, domain_name)
        if not name or len(name) > 64:
            raise InvalidRequest("name must be 1 to 64 characters")
        now = self._clock.now()
        row = GroupRow(
            id=uuid.uuid4(),
            name=name,
            description=description or "",
            is_active=is_active,
            created_at=now,
            modified_at=now,
            domain_name=domain_name,
            total_resource_slots=dict(total_resource_slots or {}),
            allowed_vfolder_hosts=list(allowed_vfolder_hosts or []),
            integration_id=integration_id,
        )
        async with self._sessions() as db, db.begin():
            if await db.get(DomainRow, domain_name) is None:
                raise NotFound("domain")
            if await repo.find_group(db, domain_name, name) is not None:
                raise AlreadyExists("A group with this name already exists in the domain.")
            db.add(row)
        return directory._group_view(row, [])

    async def _group_row(self, db: DbSession, caller: Principal, gid: uuid.UUID) -> GroupRow:
        row = await db.get(GroupRow, gid)
        if row is None:
            raise NotFound("group")
        _check_group_reach(caller, row.domain_name)
        return row

    async def modify_group(
        self,
        caller: Principal,
        gid: uuid.UUID,
        *,
        fields: dict[str, Any],
        user_update_mode: str | None = None,
        user_uuids: list[str] | None = None,
    ) -> directory.GroupView | None:
        async with self._sessions() as db, db.begin():
            row = await self._group_row(db, caller, gid)
            new_name = fields.get("name")
            if (
                new_name is not None
                and new_name != row.name
                and await repo.find_group(db, row.domain_name, new_name) is not None
            ):
                raise AlreadyExists("A group with this name already exists in the domain.")
            for key, value in fields.items():
                if value is not None:
                    setattr(row, key, value)
            if user_update_mode is not None or user_uuids:
                await self._update_members(db, row, user_update_mode, user_uuids or [])
            row.modified_at = self._clock.now()
        return await directory.group(self._sessions, caller, gid)

    async def _update_members(
        self, db: DbSession, group: GroupRow, mode: str | None, user_uuids: list[str]
    ) -> None:
        if mode not in ("add", "remove"):
            raise InvalidRequest("user_update_mode must be 'add' or 'remove'")
        ids = set(_parse_uuids(user_uuids, "user_uuids"))
        stmt = select(UserRow).where(UserRow.uuid.in_(ids))
        found = list((await db.execute(stmt)).scalars())
        if len(found) != len(ids) or any(u.domain_name != group.domain_name for u in found):
            raise InvalidRequest("user_uuids must name users of the group's domain")
        existing = select(GroupMemberRow.user_id).where(GroupMemberRow.group_id == group.id)
        members = set((await db.execute(existing)).scalars())
        if mode == "add":
            for uid in ids - members:
                db.add(GroupMemberRow(user_id=uid, group_id=group.id))
        else:
            await db.execute(
                delete(GroupMemberRow).where(
                    GroupMemberRow.group_id == group.id, GroupMemberRow.user_id.in_(ids)
                )
            )

    async def delete_group(self, caller: Principal, gid: uuid.UUID) -> None:
        """Deactivate the group (kept for its sessions' history)."""
        async with self._sessions() as db, db.begin():
            row = await self._group_row(db, caller, gid)
            row.is_active, row.modified_at = False, self._clock.now()

    async def purge_group(self, caller: Principal, gid: uuid.UUID) -> None:
        """Delete the group and its finished sessions. Conflict while sessions run in it."""
        async with self._sessions() as db, db.begin():
            row = await self._group_row(db, caller, gid)
            live = select(func.count()).where(
                SessionRow.group_id == gid,
                SessionRow.status.in_(HOLDING_STATUSES),
            )
            if int((await db.execute(live)).scalar_one()):
                raise Conflict("The group still has sessions; terminate them first.")
            await db.execute(delete(SessionRow).where(SessionRow.group_id == gid))
            await db.delete(row)
            try:
                await db.flush()
            except IntegrityError as exc:
                raise Conflict("The group still owns data (folders, templates).") from exc

    # Domains -----------------------------------------------------------------------------

    async def create_domain(
        self, caller: Principal, name: str, fields: dict[str, Any]
    ) -> directory.DomainView:
        require_superadmin(caller)
        if not name or len(name) > 64:
            raise InvalidRequest("name must be 1 to 64 characters")
        now = self._clock.now()
        row = DomainRow(
            name=name,
            description=fields.get("description") or "",
            is_active=fields.get("is_active", True) is not False,
            created_at=now,
            modified_at=now,
            total_resource_slots=dict(fields.get("total_resource_slots") or {}),
            allowed_vfolder_hosts=list(fields.get("allowed_vfolder_hosts") or []),
            allowed_docker_registries=list(fields.get("allowed_docker_registries") or []),
            integration_id=fields.get("integration_id"),
        )
        async with self._sessions() as db, db.begin():
            if await db.get(DomainRow, name) is not None:
                raise AlreadyExists("A domain with this name already exists.")
            db.add(row)
            await db.flush()
            now = self._clock.now()
            db.add(
                GroupRow(
                    id=uuid.uuid4(),
                    name="default",
                    description="The default project",
                    is_active=True,
                    created_at=now,
                    modified_at=now,
                    domain_name=name,
                    total_resource_slots={},
                    allowed_vfolder_hosts=list(row.allowed_vfolder_hosts),
                    integration_id=None,
                )
            )
        return directory._domain_view(row, [])

    async def modify_domain(
        self, caller: Principal, name: str, fields: dict[str, Any]
    ) -> directory.DomainView:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            row = await db.get(DomainRow, name)
            if row is None:
                raise NotFound("domain")
            new_name = fields.pop("name", None)
            for key, value in fields.items():
                if value is not None:
                    setattr(row, key, value)
            row.modified_at = self._clock.now()
            if new_name and new_name != name:
                if await db.get(DomainRow, new_name) is not None:
                    raise AlreadyExists("A domain with this name already exists.")
                row.name = new_name  # foreign keys follow (ON UPDATE CASCADE)
        view = await directory.domain(self._sessions, caller, new_name or name)
        assert view is not None
        return view

    async def delete_domain(self, caller: Principal, name: str) -> None:
        """Deactivate the domain (its users and groups stay)."""
        require_superadmin(caller)
        if name == caller.domain_name:
            raise InvalidRequest("You may not deactivate your own domain.")
        async with self._sessions() as db, db.begin():
            row = await db.get(DomainRow, name)
            if row is None:
                raise NotFound("domain")
            row.is_active, row.modified_at = False, self._clock.now()

    async def purge_domain(self, caller: Principal, name: str) -> None:
        """Delete an empty domain (no users; its groups go with it). Conflict otherwise."""
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            row = await db.get(DomainRow, name)
            if row is None:
                raise NotFound("domain")
            users = select(func.count()).where(UserRow.domain_name == name)
            if int((await db.execute(users)).scalar_one()):
                raise Conflict("The domain still has users; purge them first.")
            await db.execute(delete(GroupRow).where(GroupRow.domain_name == name))
            await db.delete(row)
            try:
                await db.flush()
            except IntegrityError as exc:
                raise Conflict("The domain still owns data (sessions, folders).") from exc

    # Keypair resource policies -------------------------------------------------------------

    async def create_policy(
        self, caller: Principal, name: str, fields: dict[str, Any]
    ) -> ResourcePolicy:
        require_superadmin(caller)
        if not name or len(name) > 256:
            raise InvalidRequest("name must be 1 to 256 characters")
        row = ResourcePolicyRow(name=name, created_at=self._clock.now())
        _apply_policy(row, fields, creating=True)
        async with self._sessions() as db, db.begin():
            if await db.get(ResourcePolicyRow, name) is not None:
                raise AlreadyExists("A resource policy with this name already exists.")
            db.add(row)
        return repo.policy_from_row(row)

    async def modify_policy(self, caller: Principal, name: str, fields: dict[str, Any]) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            row = await db.get(ResourcePolicyRow, name)
            if row is None:
                raise NotFound("resource policy")
            _apply_policy(row, fields, creating=False)

    async def delete_policy(self, caller: Principal, name: str) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            row = await db.get(ResourcePolicyRow, name)
            if row is None:
                raise NotFound("resource policy")
            used = select(func.count()).where(KeyPairRow.resource_policy == name)
            if int((await db.execute(used)).scalar_one()):
                raise Conflict("Keypairs still use this resource policy.")
            await db.delete(row)


POLICY_DEFAULTS: dict[str, Any] = {
    "default_for_unspecified": DefaultForUnspecified.UNLIMITED.value,
    "total_resource_slots": {},
    "max_session_lifetime": 0,
    "max_concurrent_sessions": 30,
    "max_containers_per_session": 1,
    "idle_timeout": 1800,
    "max_vfolder_count": 10,
    "max_vfolder_size": 0,
    "allowed_vfolder_hosts": [],
}
_NON_NEGATIVE = (
    "max_session_lifetime",
    "max_concurrent_sessions",
    "max_containers_per_session",
    "idle_timeout",
    "max_vfolder_count",
    "max_vfolder_size",
)


def _apply_policy(row: ResourcePolicyRow, fields: dict[str, Any], *, creating: bool) -> None:
    values = {**POLICY_DEFAULTS, **{k: v for k, v in fields.items() if v is not None}}
    if not creating:
        values = {k: v for k, v in fields.items() if v is not None and k in POLICY_DEFAULTS}
    if "default_for_unspecified" in values:
        try:
            values["default_for_unspecified"] = DefaultForUnspecified(
                str(values["default_for_unspecified"]).upper()
            ).value
        except ValueError as exc:
            raise InvalidRequest("default_for_unspecified must be LIMITED or UNLIMITED") from exc
    for key in _NON_NEGATIVE:
        if key in values and int(values[key]) < 0:
            raise InvalidRequest(f"{key} must not be negative")
    if "total_resource_slots" in values and not isinstance(values["total_resource_slots"], dict):
        raise InvalidRequest("total_resource_slots must be a JSON object")
    for key, value in values.items():
        if key in POLICY_DEFAULTS:
            setattr(row, key, value)
