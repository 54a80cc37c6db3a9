"""Domains, groups (projects) and users: types, queries and their mutations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from hangar.api.bai.filters import parse_filter, parse_order
from hangar.api.bai.graphql.context import Info
from hangar.api.bai.graphql.mutations import SimpleResult, attempt, host_list, json_object, simple
from hangar.api.bai.graphql.scalars import JSONString, as_json
from hangar.core.identity.admin import UserChanges
from hangar.core.identity.directory import USER_FIELDS, DomainView, GroupView, UserView


@strawberry.type
class Domain:
    name: str | None
    description: str | None
    is_active: bool | None
    created_at: datetime | None
    modified_at: datetime | None
    total_resource_slots: JSONString | None
    allowed_vfolder_hosts: list[str | None] | None
    allowed_docker_registries: list[str | None] | None
    integration_id: str | None
    scaling_groups: list[str | None] | None


def domain_of(v: DomainView) -> Domain:
    return Domain(
        name=v.name,
        description=v.description,
        is_active=v.is_active,
        created_at=v.created_at,
        modified_at=v.modified_at,
        total_resource_slots=as_json(v.total_resource_slots),
        allowed_vfolder_hosts=list(v.allowed_vfolder_hosts),
        allowed_docker_registries=list(v.allowed_docker_registries),
        integration_id=v.integration_id,
        scaling_groups=list(v.scaling_groups),
    )


@strawberry.type
class Group:
    id: uuid.UUID | None
    name: str | None
    description: str | None
    is_active: bool | None
    created_at: datetime | None
    modified_at: datetime | None
    domain_name: str | None
    total_resource_slots: JSONString | None
    allowed_vfolder_hosts: list[str | None] | None
    integration_id: str | None
    scaling_groups: list[str | None] | None


def group_of(v: GroupView) -> Group:
    return Group(
        id=v.id,
        name=v.name,
        description=v.description,
        is_active=v.is_active,
        created_at=v.created_at,
        modified_at=v.modified_at,
        domain_name=v.domain_name,
        total_resource_slots=as_json(v.total_resource_slots),
        allowed_vfolder_hosts=list(v.allowed_vfolder_hosts),
        integration_id=v.integration_id,
        scaling_groups=list(v.scaling_groups),
    )


@strawberry.type
class UserGroup:
    id: uuid.UUID | None
    name: str | None


@strawberry.type
class User:
    id: strawberry.ID | None
    uuid: uuid.UUID | None
    username: str | None
    email: str | None
    need_password_change: bool | None
    full_name: str | None
    description: str | None
    is_active: bool | None
    status: str | None
    status_info: str | None
    created_at: datetime | None
    modified_at: datetime | None
    domain_name: str | None
    role: str | None
    groups: list[UserGroup | None] | None  # never null in practice: the CLI iterates it


def user_of(v: UserView) -> User:
    return User(
        id=strawberry.ID(str(v.uuid)),
        uuid=v.uuid,
        username=v.username,
        email=v.email,
        need_password_change=v.need_password_change,
        full_name=v.full_name,
        description=v.description,
        is_active=v.is_active,
        status=v.status,
        status_info=v.status_info,
        created_at=v.created_at,
        modified_at=v.modified_at,
        domain_name=v.domain_name,
        role=v.role,
        groups=[UserGroup(id=g.id, name=g.name) for g in v.groups],
    )


@strawberry.type
class UserList:
    items: list[User | None]
    total_count: int


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@strawberry.type
class DirectoryQuery:
    @strawberry.field
    async def domain(self, info: Info, name: str | None = None) -> Domain | None:
        view = await info.context.services.reads.directory.domain(info.context.caller, name)
        return domain_of(view) if view is not None else None

    @strawberry.field
    async def domains(
        self, info: Info, is_active: bool | None = None
    ) -> list[Domain | None] | None:
        ctx = info.context
        return [
            domain_of(v)
            for v in await ctx.services.reads.directory.domains(ctx.caller, is_active=is_active)
        ]

    @strawberry.field
    async def group(
        self, info: Info, id: uuid.UUID, domain_name: str | None = None
    ) -> Group | None:
        ctx = info.context
        view = await ctx.services.reads.directory.group(ctx.caller, id, domain_name=domain_name)
        return group_of(view) if view is not None else None

    @strawberry.field
    async def groups_by_name(
        self, info: Info, name: str, domain_name: str | None = None
    ) -> list[Group | None] | None:
        ctx = info.context
        views = await ctx.services.reads.directory.groups(
            ctx.caller, domain_name=domain_name, name=name
        )
        return [group_of(v) for v in views]

    @strawberry.field
    async def groups(
        self, info: Info, domain_name: str | None = None, is_active: bool | None = None
    ) -> list[Group | None] | None:
        ctx = info.context
        views = await ctx.services.reads.directory.groups(
            ctx.caller, domain_name=domain_name, is_active=is_active
        )
        return [group_of(v) for v in views]

    @strawberry.field
    async def user(
        self, info: Info, domain_name: str | None = None, email: str | None = None
    ) -> User | None:
        ctx = info.context
        view = await ctx.services.reads.directory.user(
            ctx.caller, email=email, domain_name=domain_name
        )
        return user_of(view) if view is not None else None

    @strawberry.field
    async def user_from_uuid(
        self, info: Info, domain_name: str | None = None, user_id: strawberry.ID | None = None
    ) -> User | None:
        ctx = info.context
        wanted = _uuid_or_none(user_id)
        if user_id is not None and wanted is None:
            return None
        view = await ctx.services.reads.directory.user(
            ctx.caller, user_uuid=wanted, domain_name=domain_name
        )
        return user_of(view) if view is not None else None

    @strawberry.field
    async def users(
        self,
        info: Info,
        domain_name: str | None = None,
        group_id: uuid.UUID | None = None,
        is_active: bool | None = None,
        status: str | None = None,
    ) -> list[User | None] | None:
        ctx = info.context
        views = await ctx.services.reads.directory.users(
            ctx.caller,
            domain_name=domain_name,
            group_id=group_id,
            is_active=is_active,
            status=status,
        )
        return [user_of(v) for v in views]

    @strawberry.field
    async def user_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        filter: str | None = None,
        order: str | None = None,
        domain_name: str | None = None,
        group_id: uuid.UUID | None = None,
        is_active: bool | None = None,
        status: str | None = None,
    ) -> UserList | None:
        ctx = info.context
        page = await ctx.services.reads.directory.user_page(
            ctx.caller,
            limit=limit,
            offset=offset,
            domain_name=domain_name,
            group_id=group_id,
            is_active=is_active,
            status=status,
            filter=parse_filter(filter, USER_FIELDS),
            order=parse_order(order, USER_FIELDS),
        )
        return UserList(items=[user_of(v) for v in page.items], total_count=page.total_count)


# Inputs ------------------------------------------------------------------------------------


@strawberry.input
class DomainInput:
    description: str | None = ""
    is_active: bool | None = True
    total_resource_slots: JSONString | None = None
    allowed_vfolder_hosts: list[str | None] | None = None
    allowed_docker_registries: list[str | None] | None = None
    integration_id: str | None = None


@strawberry.input
class ModifyDomainInput:
    name: str | None = None
    description: str | None = None
    is_active: bool | None = None
    total_resource_slots: JSONString | None = None
    allowed_vfolder_hosts: list[str | None] | None = None
    allowed_docker_registries: list[str | None] | None = None
    integration_id: str | None = None


@strawberry.input
class GroupInput:
    description: str | None = ""
    is_active: bool | None = True
    domain_name: str
    total_resource_slots: JSONString | None = None
    allowed_vfolder_hosts: list[str | None] | None = None
    integration_id: str | None = None


@strawberry.input
class ModifyGroupInput:
    name: str | None = None
    description: str | None = None
    is_active: bool | None = None
    domain_name: str | None = None
    total_resource_slots: JSONString | None = None
    user_update_mode: str | None = None
    user_uuids: list[str | None] | None = None
    allowed_vfolder_hosts: list[str | None] | None = None
    integration_id: str | None = None


@strawberry.input
class UserInput:
    username: str | None = None
    password: str
    need_password_change: bool | None = False
    full_name: str | None = ""
    description: str | None = ""
    is_active: bool | None = True
    status: str | None = "active"
    domain_name: str = "default"
    role: str | None = "user"
    group_ids: list[str | None] | None = None


@strawberry.input
class ModifyUserInput:
    username: str | None = None
    password: str | None = None
    need_password_change: bool | None = None
    full_name: str | None = None
    description: str | None = None
    is_active: bool | None = None
    status: str | None = None
    domain_name: str | None = None
    role: str | None = None
    group_ids: list[str | None] | None = None


@strawberry.input
class PurgeUserInput:
    purge_shared_vfolders: bool | None = False


@strawberry.type
class CreateDomain:
    ok: bool | None
    msg: str | None
    domain: Domain | None


@strawberry.type
class CreateGroup:
    ok: bool | None
    msg: str | None
    group: Group | None


@strawberry.type
class CreateUser:
    ok: bool | None
    msg: str | None
    user: User | None


def _domain_fields(props: DomainInput | ModifyDomainInput) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "description": props.description,
        "is_active": props.is_active,
        "total_resource_slots": json_object(props.total_resource_slots, "total_resource_slots"),
        "allowed_vfolder_hosts": host_list(props.allowed_vfolder_hosts),
        "allowed_docker_registries": host_list(props.allowed_docker_registries),
        "integration_id": props.integration_id,
    }
    if isinstance(props, ModifyDomainInput):
        fields["name"] = props.name
    return fields


def _strings(values: list[str | None] | None) -> list[str] | None:
    return None if values is None else [v for v in values if v is not None]


@strawberry.type
class DirectoryMutation:
    @strawberry.mutation
    async def create_domain(self, info: Info, name: str, props: DomainInput) -> CreateDomain:
        admin = info.context.services.admin.identity

        async def act() -> DomainView:
            return await admin.create_domain(info.context.caller, name, _domain_fields(props))

        ok, msg, view = await attempt(info, "create_domain", act)
        return CreateDomain(ok=ok, msg=msg, domain=domain_of(view) if view else None)

    @strawberry.mutation
    async def modify_domain(self, info: Info, name: str, props: ModifyDomainInput) -> CreateDomain:
        admin = info.context.services.admin.identity

        async def act() -> DomainView:
            return await admin.modify_domain(info.context.caller, name, _domain_fields(props))

        ok, msg, view = await attempt(info, "modify_domain", act)
        return CreateDomain(ok=ok, msg=msg, domain=domain_of(view) if view else None)

    @strawberry.mutation
    async def delete_domain(self, info: Info, name: str) -> SimpleResult:
        admin = info.context.services.admin.identity
        return await simple(
            info, "delete_domain", lambda: admin.delete_domain(info.context.caller, name)
        )

    @strawberry.mutation
    async def purge_domain(self, info: Info, name: str) -> SimpleResult:
        admin = info.context.services.admin.identity
        return await simple(
            info, "purge_domain", lambda: admin.purge_domain(info.context.caller, name)
        )

    @strawberry.mutation
    async def create_group(self, info: Info, name: str, props: GroupInput) -> CreateGroup:
        admin = info.context.services.admin.identity

        async def act() -> GroupView:
            return await admin.create_group(
                info.context.caller,
                name=name,
                domain_name=props.domain_name,
                description=props.description or "",
                is_active=props.is_active is not False,
                total_resource_slots=json_object(
                    props.total_resource_slots, "total_resource_slots"
                ),
                allowed_vfolder_hosts=host_list(props.allowed_vfolder_hosts),
                integration_id=props.integration_id,
            )

        ok, msg, view = await attempt(info, "create_group", act)
        return CreateGroup(ok=ok, msg=msg, group=group_of(view) if view else None)

    @strawberry.mutation
    async def modify_group(
        self, info: Info, gid: uuid.UUID, props: ModifyGroupInput
    ) -> CreateGroup:
        admin = info.context.services.admin.identity

        async def act() -> GroupView | None:
            fields = {
                "name": props.name,
                "description": props.description,
                "is_active": props.is_active,
                "total_resource_slots": json_object(
                    props.total_resource_slots, "total_resource_slots"
                ),
                "allowed_vfolder_hosts": host_list(props.allowed_vfolder_hosts) or None,
                "integration_id": props.integration_id,
            }
            return await admin.modify_group(
                info.context.caller,
                gid,
                fields=fields,
                user_update_mode=props.user_update_mode,
                user_uuids=_strings(props.user_uuids),
            )

        ok, msg, view = await attempt(info, "modify_group", act)
        return CreateGroup(ok=ok, msg=msg, group=group_of(view) if view else None)

    @strawberry.mutation
    async def delete_group(self, info: Info, gid: uuid.UUID) -> SimpleResult:
        admin = info.context.services.admin.identity
        return await simple(
            info, "delete_group", lambda: admin.delete_group(info.context.caller, gid)
        )

    @strawberry.mutation
    async def purge_group(self, info: Info, gid: uuid.UUID) -> SimpleResult:
        admin = info.context.services.admin.identity
        return await simple(
            info, "purge_group", lambda: admin.purge_group(info.context.caller, gid)
        )

    @strawberry.mutation
    async def create_user(self, info: Info, email: str, props: UserInput) -> CreateUser:
        admin = info.context.services.admin.identity

        async def act() -> UserView:
            return await admin.create_user(
                info.context.caller,
                email=email,
                password=props.password,
                username=props.username,
                full_name=props.full_name or "",
                description=props.description or "",
                status=props.status or "active",
                is_active=props.is_active is not False,
                need_password_change=bool(props.need_password_change),
                domain_name=props.domain_name,
                role=props.role or "user",
                group_ids=_strings(props.group_ids),
            )

        ok, msg, view = await attempt(info, "create_user", act)
        return CreateUser(ok=ok, msg=msg, user=user_of(view) if view else None)

    @strawberry.mutation
    async def modify_user(self, info: Info, email: str, props: ModifyUserInput) -> CreateUser:
        admin = info.context.services.admin.identity
        changes = UserChanges(
            username=props.username or None,
            password=props.password or None,
            need_password_change=props.need_password_change,
            full_name=props.full_name,
            description=props.description,
            is_active=props.is_active,
            status=props.status,
            domain_name=props.domain_name,
            role=props.role,
            group_ids=_strings(props.group_ids),
        )

        async def act() -> UserView:
            return await admin.modify_user(info.context.caller, email, changes)

        ok, msg, view = await attempt(info, "modify_user", act)
        return CreateUser(ok=ok, msg=msg, user=user_of(view) if view else None)

    @strawberry.mutation
    async def delete_user(self, info: Info, email: str) -> SimpleResult:
        admin = info.context.services.admin.identity
        return await simple(
            info, "delete_user", lambda: admin.delete_user(info.context.caller, email)
        )

    @strawberry.mutation
    async def purge_user(
        self, info: Info, email: str, props: PurgeUserInput | None = None
    ) -> SimpleResult:
        admin = info.context.services.admin.identity
        return await simple(
            info, "purge_user", lambda: admin.purge_user(info.context.caller, email)
        )
