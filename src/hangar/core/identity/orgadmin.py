"""Administration of groups, domains and keypair resource policies (the rules of
:mod:`hangar.core.identity.admin` hold here too), and the reach checks both share."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import AlreadyExists, Conflict, Forbidden, InvalidRequest, NotFound
from hangar.core.identity import directory, repo
from hangar.core.identity.directory import DomainView, GroupView, require_admin, require_superadmin
from hangar.core.identity.models import DefaultForUnspecified, Group, ResourcePolicy
from hangar.core.identity.repo import accounts, org
from hangar.core.identity.scope import Scope
from hangar.core.principal import Principal, Role
from hangar.db.engine import DbSession


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


def parse_uuids(values: list[str], what: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(str(v)) for v in values]
    except ValueError as exc:
        raise InvalidRequest(f"{what} must be UUIDs") from exc


class OrgAdmin:
    """Groups, domains and policies; the identity admin inherits these methods."""

    _sessions: async_sessionmaker[DbSession]
    _clock: Clock

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
    ) -> GroupView:
        _check_group_reach(caller, domain_name)
        if not name or len(name) > 64:
            raise InvalidRequest("name must be 1 to 64 characters")
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            if not await accounts.domain_exists(db, domain_name):
                raise NotFound("domain")
            if await repo.find_group(db, domain_name, name) is not None:
                raise AlreadyExists("A group with this name already exists in the domain.")
            return await org.insert_group(
                db,
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

    async def _group_in_reach(self, db: DbSession, caller: Principal, gid: uuid.UUID) -> Group:
        found = await repo.find_group_by_id(db, gid)
        if found is None:
            raise NotFound("group")
        _check_group_reach(caller, found.domain_name)
        return found

    async def modify_group(
        self,
        caller: Principal,
        gid: uuid.UUID,
        *,
        fields: dict[str, Any],
        user_update_mode: str | None = None,
        user_uuids: list[str] | None = None,
    ) -> GroupView | None:
        async with self._sessions() as db, db.begin():
            group = await self._group_in_reach(db, caller, gid)
            new_name = fields.get("name")
            if (
                new_name is not None
                and new_name != group.name
                and await repo.find_group(db, group.domain_name, new_name) is not None
            ):
                raise AlreadyExists("A group with this name already exists in the domain.")
            await org.update_group(db, gid, fields)
            if user_update_mode is not None or user_uuids:
                if user_update_mode not in ("add", "remove"):
                    raise InvalidRequest("user_update_mode must be 'add' or 'remove'")
                ids = set(parse_uuids(user_uuids or [], "user_uuids"))
                domain_name = fields.get("domain_name") or group.domain_name
                await org.update_members(db, gid, domain_name, user_update_mode == "add", ids)
            await org.update_group(db, gid, {"modified_at": self._clock.now()})
        return await directory.group(self._sessions, caller, gid)

    async def delete_group(self, caller: Principal, gid: uuid.UUID) -> None:
        """Deactivate the group (kept for its sessions' history)."""
        async with self._sessions() as db, db.begin():
            await self._group_in_reach(db, caller, gid)
            values = {"is_active": False, "modified_at": self._clock.now()}
            await org.update_group(db, gid, values)

    async def purge_group(self, caller: Principal, gid: uuid.UUID) -> None:
        """Delete the group and its finished sessions. Conflict while sessions run in it."""
        async with self._sessions() as db, db.begin():
            await self._group_in_reach(db, caller, gid)
            if await org.live_sessions_of_group(db, gid):
                raise Conflict("The group still has sessions; terminate them first.")
            await org.purge_group(db, gid)

    # Domains -----------------------------------------------------------------------------

    async def create_domain(
        self, caller: Principal, name: str, fields: dict[str, Any]
    ) -> DomainView:
        require_superadmin(caller)
        if not name or len(name) > 64:
            raise InvalidRequest("name must be 1 to 64 characters")
        now = self._clock.now()
        hosts = list(fields.get("allowed_vfolder_hosts") or [])
        default_group = {
            "id": uuid.uuid4(),
            "name": "default",
            "description": "The default project",
            "is_active": True,
            "created_at": now,
            "modified_at": now,
            "total_resource_slots": {},
            "allowed_vfolder_hosts": list(hosts),
            "integration_id": None,
        }
        async with self._sessions() as db, db.begin():
            if await accounts.domain_exists(db, name):
                raise AlreadyExists("A domain with this name already exists.")
            return await org.insert_domain(
                db,
                default_group,
                name=name,
                description=fields.get("description") or "",
                is_active=fields.get("is_active", True) is not False,
                created_at=now,
                modified_at=now,
                total_resource_slots=dict(fields.get("total_resource_slots") or {}),
                allowed_vfolder_hosts=hosts,
                allowed_docker_registries=list(fields.get("allowed_docker_registries") or []),
                integration_id=fields.get("integration_id"),
            )

    async def modify_domain(
        self, caller: Principal, name: str, fields: dict[str, Any]
    ) -> DomainView:
        require_superadmin(caller)
        new_name = fields.pop("name", None)
        async with self._sessions() as db, db.begin():
            if not await accounts.domain_exists(db, name):
                raise NotFound("domain")
            if new_name and new_name != name and await accounts.domain_exists(db, new_name):
                raise AlreadyExists("A domain with this name already exists.")
            values = {**fields, "modified_at": self._clock.now()}
            if new_name and new_name != name:
                values["name"] = new_name
            await org.update_domain(db, name, values)
        view = await directory.domain(self._sessions, caller, new_name or name)
        assert view is not None
        return view

    async def delete_domain(self, caller: Principal, name: str) -> None:
        """Deactivate the domain (its users and groups stay)."""
        require_superadmin(caller)
        if name == caller.domain_name:
            raise InvalidRequest("You may not deactivate your own domain.")
        async with self._sessions() as db, db.begin():
            values = {"is_active": False, "modified_at": self._clock.now()}
            await org.update_domain(db, name, values)

    async def purge_domain(self, caller: Principal, name: str) -> None:
        """Delete an empty domain (no users; its groups go with it). Conflict otherwise."""
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if not await accounts.domain_exists(db, name):
                raise NotFound("domain")
            if await org.users_in_domain(db, name):
                raise Conflict("The domain still has users; purge them first.")
            await org.purge_domain(db, name)

    # Keypair resource policies -------------------------------------------------------------

    async def create_policy(
        self, caller: Principal, name: str, fields: dict[str, Any]
    ) -> ResourcePolicy:
        require_superadmin(caller)
        if not name or len(name) > 256:
            raise InvalidRequest("name must be 1 to 256 characters")
        values = policy_values(fields, creating=True)
        async with self._sessions() as db, db.begin():
            if await org.policy_exists(db, name):
                raise AlreadyExists("A resource policy with this name already exists.")
            return await org.insert_policy(db, name, self._clock.now(), values)

    async def modify_policy(self, caller: Principal, name: str, fields: dict[str, Any]) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if not await org.policy_exists(db, name):
                raise NotFound("resource policy")
            await org.update_policy(db, name, policy_values(fields, creating=False))

    async def delete_policy(self, caller: Principal, name: str) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if not await org.policy_exists(db, name):
                raise NotFound("resource policy")
            if await org.keypairs_with_policy(db, name):
                raise Conflict("Keypairs still use this resource policy.")
            await org.delete_policy(db, name)


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


def policy_values(fields: dict[str, Any], *, creating: bool) -> list[tuple[str, Any]]:
    """The policy columns ``fields`` set (with the defaults when creating), checked.
    Raises InvalidRequest."""
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
    return [(k, v) for k, v in values.items() if k in POLICY_DEFAULTS]
