"""Scaling groups: queries, CRUD and their associations with domains, groups and keypairs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from hangar.api.bai.graphql.context import Info
from hangar.api.bai.graphql.mutations import SimpleResult, attempt, json_object, simple
from hangar.api.bai.graphql.scalars import JSONString, as_json
from hangar.core.scaling.service import ScalingGroup as ScalingGroupView


@strawberry.type
class ScalingGroup:
    name: str | None
    description: str | None
    is_active: bool | None
    created_at: datetime | None
    wsproxy_addr: str | None
    driver: str | None
    driver_opts: JSONString | None
    scheduler: str | None
    scheduler_opts: JSONString | None


def scaling_group_of(v: ScalingGroupView) -> ScalingGroup:
    return ScalingGroup(
        name=v.name,
        description=v.description,
        is_active=v.is_active,
        created_at=v.created_at,
        wsproxy_addr=v.wsproxy_addr,
        driver=v.driver,
        driver_opts=as_json(v.driver_opts),
        scheduler=v.scheduler,
        scheduler_opts=as_json(v.scheduler_opts),
    )


@strawberry.input
class CreateScalingGroupInput:
    description: str | None = ""
    is_active: bool | None = True
    wsproxy_addr: str | None = None
    driver: str = "static"
    driver_opts: JSONString | None = None
    scheduler: str = "fifo"
    scheduler_opts: JSONString | None = None


@strawberry.input
class ModifyScalingGroupInput:
    description: str | None = None
    is_active: bool | None = None
    wsproxy_addr: str | None = None
    driver: str | None = None
    driver_opts: JSONString | None = None
    scheduler: str | None = None
    scheduler_opts: JSONString | None = None


@strawberry.type
class CreateScalingGroup:
    ok: bool | None
    msg: str | None
    scaling_group: ScalingGroup | None


def _fields(props: CreateScalingGroupInput | ModifyScalingGroupInput) -> dict[str, Any]:
    return {
        "description": props.description,
        "is_active": props.is_active,
        "wsproxy_addr": props.wsproxy_addr,
        "driver": props.driver,
        "driver_opts": json_object(props.driver_opts, "driver_opts"),
        "scheduler": props.scheduler,
        "scheduler_opts": json_object(props.scheduler_opts, "scheduler_opts"),
    }


@strawberry.type
class ScalingGroupQuery:
    @strawberry.field
    async def scaling_group(self, info: Info, name: str | None = None) -> ScalingGroup | None:
        ctx = info.context
        view = await ctx.services.admin.scaling.get(ctx.caller, name)
        return scaling_group_of(view) if view is not None else None

    @strawberry.field
    async def scaling_groups(
        self, info: Info, name: str | None = None, is_active: bool | None = None
    ) -> list[ScalingGroup | None] | None:
        ctx = info.context
        views = await ctx.services.admin.scaling.find(ctx.caller, name=name, is_active=is_active)
        return [scaling_group_of(v) for v in views]

    @strawberry.field
    async def scaling_groups_for_domain(
        self, info: Info, domain: str, is_active: bool | None = None
    ) -> list[ScalingGroup | None] | None:
        ctx = info.context
        views = await ctx.services.admin.scaling.for_domain(ctx.caller, domain, is_active=is_active)
        return [scaling_group_of(v) for v in views]

    @strawberry.field
    async def scaling_groups_for_user_group(
        self, info: Info, user_group: str, is_active: bool | None = None
    ) -> list[ScalingGroup | None] | None:
        ctx = info.context
        views = await ctx.services.admin.scaling.for_group(
            ctx.caller, user_group, is_active=is_active
        )
        return [scaling_group_of(v) for v in views]

    @strawberry.field
    async def scaling_groups_for_keypair(
        self, info: Info, access_key: str, is_active: bool | None = None
    ) -> list[ScalingGroup | None] | None:
        ctx = info.context
        views = await ctx.services.admin.scaling.for_keypair(
            ctx.caller, access_key, is_active=is_active
        )
        return [scaling_group_of(v) for v in views]


@strawberry.type
class ScalingGroupMutation:
    @strawberry.mutation
    async def create_scaling_group(
        self, info: Info, name: str, props: CreateScalingGroupInput
    ) -> CreateScalingGroup:
        scaling = info.context.services.admin.scaling

        async def act() -> ScalingGroupView:
            return await scaling.create(info.context.caller, name, _fields(props))

        ok, msg, view = await attempt(info, "create_scaling_group", act)
        return CreateScalingGroup(
            ok=ok, msg=msg, scaling_group=scaling_group_of(view) if view else None
        )

    @strawberry.mutation
    async def modify_scaling_group(
        self, info: Info, name: str, props: ModifyScalingGroupInput
    ) -> SimpleResult:
        scaling = info.context.services.admin.scaling

        async def act() -> None:
            await scaling.modify(info.context.caller, name, _fields(props))

        return await simple(info, "modify_scaling_group", act)

    @strawberry.mutation
    async def delete_scaling_group(self, info: Info, name: str) -> SimpleResult:
        scaling = info.context.services.admin.scaling
        return await simple(
            info, "delete_scaling_group", lambda: scaling.delete(info.context.caller, name)
        )

    @strawberry.mutation
    async def associate_scaling_group_with_domain(
        self, info: Info, scaling_group: str, domain: str
    ) -> SimpleResult:
        scaling = info.context.services.admin.scaling
        return await simple(
            info,
            "associate_scaling_group_with_domain",
            lambda: scaling.associate(info.context.caller, scaling_group, domain=domain),
        )

    @strawberry.mutation
    async def disassociate_scaling_group_with_domain(
        self, info: Info, scaling_group: str, domain: str
    ) -> SimpleResult:
        scaling = info.context.services.admin.scaling
        return await simple(
            info,
            "disassociate_scaling_group_with_domain",
            lambda: scaling.associate(
                info.context.caller, scaling_group, domain=domain, remove=True
            ),
        )

    @strawberry.mutation
    async def disassociate_all_scaling_groups_with_domain(
        self, info: Info, domain: str
    ) -> SimpleResult:
        scaling = info.context.services.admin.scaling
        return await simple(
            info,
            "disassociate_all_scaling_groups_with_domain",
            lambda: scaling.disassociate_all(info.context.caller, domain=domain),
        )

    @strawberry.mutation
    async def associate_scaling_group_with_user_group(
        self, info: Info, scaling_group: str, user_group: uuid.UUID
    ) -> SimpleResult:
        scaling = info.context.services.admin.scaling
        return await simple(
            info,
            "associate_scaling_group_with_user_group",
            lambda: scaling.associate(info.context.caller, scaling_group, group=str(user_group)),
        )

    @strawberry.mutation
    async def disassociate_scaling_group_with_user_group(
        self, info: Info, scaling_group: str, user_group: str
    ) -> SimpleResult:
        scaling = info.context.services.admin.scaling
        return await simple(
            info,
            "disassociate_scaling_group_with_user_group",
            lambda: scaling.associate(
                info.context.caller, scaling_group, group=user_group, remove=True
            ),
        )

    @strawberry.mutation
    async def disassociate_all_scaling_groups_with_group(
        self, info: Info, user_group: uuid.UUID
    ) -> SimpleResult:
        scaling = info.context.services.admin.scaling
        return await simple(
            info,
            "disassociate_all_scaling_groups_with_group",
            lambda: scaling.disassociate_all(info.context.caller, group=str(user_group)),
        )

    @strawberry.mutation
    async def associate_scaling_group_with_keypair(
        self, info: Info, scaling_group: str, access_key: str
    ) -> SimpleResult:
        scaling = info.context.services.admin.scaling
        return await simple(
            info,
            "associate_scaling_group_with_keypair",
            lambda: scaling.associate(info.context.caller, scaling_group, access_key=access_key),
        )

    @strawberry.mutation
    async def disassociate_scaling_group_with_keypair(
        self, info: Info, scaling_group: str, access_key: str
    ) -> SimpleResult:
        scaling = info.context.services.admin.scaling
        return await simple(
            info,
            "disassociate_scaling_group_with_keypair",
            lambda: scaling.associate(
                info.context.caller, scaling_group, access_key=access_key, remove=True
            ),
        )
