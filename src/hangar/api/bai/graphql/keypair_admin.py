"""Keypair and keypair resource policy mutations."""

from __future__ import annotations

from typing import Any

import strawberry

from hangar.api.bai.graphql.context import Info
from hangar.api.bai.graphql.keypairs import KeyPair, KeyPairResourcePolicy, keypair_of, policy_of
from hangar.api.bai.graphql.mutations import SimpleResult, attempt, host_list, json_object, simple
from hangar.api.bai.graphql.scalars import BigInt, JSONString
from hangar.core.identity.admin import KeyPairChanges
from hangar.core.identity.models import ResourcePolicy
from hangar.core.identity.queries import KeyPairView


@strawberry.input
class KeyPairInput:
    is_active: bool | None = True
    is_admin: bool | None = False
    resource_policy: str | None = "default"
    concurrency_limit: int | None = None
    rate_limit: int | None = None


@strawberry.input
class ModifyKeyPairInput:
    is_active: bool | None = None
    is_admin: bool | None = None
    resource_policy: str | None = None
    concurrency_limit: int | None = None
    rate_limit: int | None = None


@strawberry.input
class CreateKeyPairResourcePolicyInput:
    default_for_unspecified: str | None = "UNLIMITED"
    total_resource_slots: JSONString | None = None
    max_session_lifetime: int | None = 0
    max_concurrent_sessions: int | None = 30
    max_containers_per_session: int | None = 1
    idle_timeout: BigInt | None = None
    max_vfolder_count: int | None = 10
    max_vfolder_size: BigInt | None = None
    allowed_vfolder_hosts: list[str | None] | None = None


@strawberry.input
class ModifyKeyPairResourcePolicyInput:
    default_for_unspecified: str | None = None
    total_resource_slots: JSONString | None = None
    max_session_lifetime: int | None = None
    max_concurrent_sessions: int | None = None
    max_containers_per_session: int | None = None
    idle_timeout: BigInt | None = None
    max_vfolder_count: int | None = None
    max_vfolder_size: BigInt | None = None
    allowed_vfolder_hosts: list[str | None] | None = None


@strawberry.type
class CreateKeyPair:
    ok: bool | None
    msg: str | None
    keypair: KeyPair | None


@strawberry.type
class RegenerateKeyPair:
    ok: bool | None
    msg: str | None
    access_key: str | None
    secret_key: str | None


@strawberry.type
class CreateKeyPairResourcePolicy:
    ok: bool | None
    msg: str | None
    resource_policy: KeyPairResourcePolicy | None


def _policy_fields(
    props: CreateKeyPairResourcePolicyInput | ModifyKeyPairResourcePolicyInput,
) -> dict[str, Any]:
    return {
        "default_for_unspecified": props.default_for_unspecified,
        "total_resource_slots": json_object(props.total_resource_slots, "total_resource_slots"),
        "max_session_lifetime": props.max_session_lifetime,
        "max_concurrent_sessions": props.max_concurrent_sessions,
        "max_containers_per_session": props.max_containers_per_session,
        "idle_timeout": props.idle_timeout,
        "max_vfolder_count": props.max_vfolder_count,
        "max_vfolder_size": props.max_vfolder_size,
        "allowed_vfolder_hosts": host_list(props.allowed_vfolder_hosts),
    }


@strawberry.type
class KeyPairMutation:
    @strawberry.mutation
    async def create_keypair(self, info: Info, user_id: str, props: KeyPairInput) -> CreateKeyPair:
        ctx = info.context
        admin = ctx.services.admin.identity

        async def act() -> KeyPairView | None:
            issued = await admin.create_keypair(
                ctx.caller,
                email=str(user_id),
                is_active=props.is_active is not False,
                is_admin=bool(props.is_admin),
                resource_policy=props.resource_policy or "default",
                rate_limit=props.rate_limit,
            )
            return await ctx.services.reads.keypairs.keypair(
                ctx.caller, access_key=issued.keypair.access_key
            )

        ok, msg, view = await attempt(info, "create_keypair", act)
        return CreateKeyPair(ok=ok, msg=msg, keypair=keypair_of(view) if view else None)

    @strawberry.mutation
    async def modify_keypair(
        self, info: Info, access_key: str, props: ModifyKeyPairInput
    ) -> SimpleResult:
        admin = info.context.services.admin.identity
        changes = KeyPairChanges(
            is_active=props.is_active,
            is_admin=props.is_admin,
            resource_policy=props.resource_policy,
            rate_limit=props.rate_limit,
        )
        return await simple(
            info,
            "modify_keypair",
            lambda: admin.modify_keypair(info.context.caller, access_key, changes),
        )

    @strawberry.mutation
    async def delete_keypair(self, info: Info, access_key: str) -> SimpleResult:
        admin = info.context.services.admin.identity
        return await simple(
            info, "delete_keypair", lambda: admin.delete_keypair(info.context.caller, access_key)
        )

    # Issue a new secret key for a keypair (Hangar extension).
    @strawberry.mutation
    async def regenerate_keypair(self, info: Info, access_key: str) -> RegenerateKeyPair:
        admin = info.context.services.admin.identity
        ok, msg, secret = await attempt(
            info,
            "regenerate_keypair",
            lambda: admin.regenerate_keypair(info.context.caller, access_key),
        )
        return RegenerateKeyPair(
            ok=ok, msg=msg, access_key=access_key if ok else None, secret_key=secret
        )

    @strawberry.mutation
    async def create_keypair_resource_policy(
        self, info: Info, name: str, props: CreateKeyPairResourcePolicyInput
    ) -> CreateKeyPairResourcePolicy:
        admin = info.context.services.admin.identity

        async def act() -> ResourcePolicy:
            return await admin.create_policy(info.context.caller, name, _policy_fields(props))

        ok, msg, policy = await attempt(info, "create_keypair_resource_policy", act)
        return CreateKeyPairResourcePolicy(
            ok=ok, msg=msg, resource_policy=policy_of(policy) if policy else None
        )

    @strawberry.mutation
    async def modify_keypair_resource_policy(
        self, info: Info, name: str, props: ModifyKeyPairResourcePolicyInput
    ) -> SimpleResult:
        admin = info.context.services.admin.identity

        async def act() -> None:
            await admin.modify_policy(info.context.caller, name, _policy_fields(props))

        return await simple(info, "modify_keypair_resource_policy", act)

    @strawberry.mutation
    async def delete_keypair_resource_policy(self, info: Info, name: str) -> SimpleResult:
        admin = info.context.services.admin.identity
        return await simple(
            info,
            "delete_keypair_resource_policy",
            lambda: admin.delete_policy(info.context.caller, name),
        )
