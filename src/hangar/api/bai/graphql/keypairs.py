"""Keypairs and keypair resource policies (read side)."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from hangar.api.bai.filters import parse_filter, parse_order
from hangar.api.bai.graphql.context import Info
from hangar.api.bai.graphql.scalars import BigInt, JSONString, as_json
from hangar.api.bai.graphql.sessions import ComputeSession, sessions_of
from hangar.core.identity.models import ResourcePolicy
from hangar.core.identity.queries import KEYPAIR_FIELDS, KeyPairView


@strawberry.type
class UserInfo:
    email: str | None
    full_name: str | None


@strawberry.type
class KeyPairResourcePolicy:
    name: str | None
    created_at: datetime | None
    default_for_unspecified: str | None
    total_resource_slots: JSONString | None
    max_session_lifetime: int | None
    max_concurrent_sessions: int | None
    max_containers_per_session: int | None
    idle_timeout: BigInt | None
    max_vfolder_count: int | None
    max_vfolder_size: BigInt | None
    allowed_vfolder_hosts: list[str | None] | None


def policy_of(policy: ResourcePolicy) -> KeyPairResourcePolicy:
    return KeyPairResourcePolicy(
        name=policy.name,
        created_at=policy.created_at,
        default_for_unspecified=policy.default_for_unspecified.value,
        total_resource_slots=as_json(policy.total_resource_slots),
        max_session_lifetime=policy.max_session_lifetime,
        max_concurrent_sessions=policy.max_concurrent_sessions,
        max_containers_per_session=policy.max_containers_per_session,
        idle_timeout=BigInt(policy.idle_timeout),
        max_vfolder_count=policy.max_vfolder_count,
        max_vfolder_size=BigInt(policy.max_vfolder_size),
        allowed_vfolder_hosts=list(policy.allowed_vfolder_hosts),
    )


@strawberry.type
class KeyPair:
    id: strawberry.ID | None
    user_id: str | None
    full_name: str | None
    access_key: str | None
    is_active: bool | None
    is_admin: bool | None
    resource_policy: str | None
    created_at: datetime | None
    modified_at: datetime | None
    last_used: datetime | None
    rate_limit: int | None
    num_queries: int | None
    user: uuid.UUID | None
    ssh_public_key: str | None
    ssh_private_key: str | None
    dotfiles: str | None
    bootstrap_script: str | None
    concurrency_used: int | None
    user_info: UserInfo | None  # never null in practice

    view: strawberry.Private[KeyPairView]

    @strawberry.field
    async def secret_key(self, info: Info) -> str | None:
        return await info.context.services.identity.reveal_secret(self.view.access_key)

    @strawberry.field
    async def concurrency_limit(self, info: Info) -> int | None:
        ctx = info.context
        policy = await ctx.services.reads.keypairs.resource_policy(
            ctx.caller, self.view.keypair.resource_policy
        )
        return policy.max_concurrent_sessions if policy is not None else None

    @strawberry.field
    async def compute_sessions(
        self, info: Info, status: str | None = None
    ) -> list[ComputeSession | None] | None:
        ctx = info.context
        views = await ctx.services.reads.sessions.session_list(
            ctx.caller, access_key=self.view.access_key, status=status
        )
        return list(await sessions_of(info, views))


def keypair_of(view: KeyPairView) -> KeyPair:
    kp = view.keypair
    return KeyPair(
        id=strawberry.ID(kp.access_key),
        user_id=kp.user_email,
        full_name=view.user_full_name,
        access_key=kp.access_key,
        is_active=kp.is_active,
        is_admin=kp.is_admin,
        resource_policy=kp.resource_policy,
        created_at=kp.created_at,
        modified_at=view.modified_at,
        last_used=kp.last_used,
        rate_limit=kp.rate_limit,
        num_queries=kp.num_queries,
        user=kp.user_uuid,
        ssh_public_key=view.ssh_public_key,
        ssh_private_key=None,
        dotfiles=None,
        bootstrap_script=None,
        concurrency_used=view.concurrency_used,
        user_info=UserInfo(email=kp.user_email, full_name=view.user_full_name),
        view=view,
    )


@strawberry.type
class KeyPairList:
    items: list[KeyPair | None]
    total_count: int


@strawberry.type
class KeyPairQuery:
    @strawberry.field
    async def keypair(
        self, info: Info, domain_name: str | None = None, access_key: str | None = None
    ) -> KeyPair | None:
        ctx = info.context
        view = await ctx.services.reads.keypairs.keypair(
            ctx.caller, access_key=access_key, domain_name=domain_name
        )
        return keypair_of(view) if view is not None else None

    @strawberry.field
    async def keypairs(
        self,
        info: Info,
        domain_name: str | None = None,
        email: str | None = None,
        is_active: bool | None = None,
    ) -> list[KeyPair | None] | None:
        ctx = info.context
        views = await ctx.services.reads.keypairs.keypairs(
            ctx.caller,
            domain_name=domain_name,
            email=email,
            is_active=is_active,
        )
        return [keypair_of(v) for v in views]

    @strawberry.field
    async def keypair_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        filter: str | None = None,
        order: str | None = None,
        domain_name: str | None = None,
        email: str | None = None,
        is_active: bool | None = None,
    ) -> KeyPairList | None:
        ctx = info.context
        page = await ctx.services.reads.keypairs.keypair_page(
            ctx.caller,
            limit=limit,
            offset=offset,
            domain_name=domain_name,
            email=email,
            is_active=is_active,
            filter=parse_filter(filter, KEYPAIR_FIELDS),
            order=parse_order(order, KEYPAIR_FIELDS),
        )
        return KeyPairList(items=[keypair_of(v) for v in page.items], total_count=page.total_count)

    @strawberry.field
    async def keypair_resource_policy(
        self, info: Info, name: str | None = None
    ) -> KeyPairResourcePolicy | None:
        ctx = info.context
        policy = await ctx.services.reads.keypairs.resource_policy(ctx.caller, name)
        return policy_of(policy) if policy is not None else None

    @strawberry.field
    async def keypair_resource_policies(
        self, info: Info
    ) -> list[KeyPairResourcePolicy | None] | None:
        ctx = info.context
        policies = await ctx.services.reads.keypairs.resource_policies(ctx.caller)
        return [policy_of(p) for p in policies]
