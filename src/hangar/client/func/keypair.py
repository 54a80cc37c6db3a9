"""KeyPair: access/secret keypairs (GraphQL)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from hangar.client.func.base import BaseFunction, field_names, paginated

RESULT_FIELDS = ("access_key", "secret_key")
LIST_FIELDS = ("user_id", "access_key", "secret_key", "is_active", "is_admin", "created_at")
DETAIL_FIELDS = ("user_id", "access_key", "secret_key", "is_active", "is_admin")


class KeyPair(BaseFunction):
    """Keypairs; creating and changing them needs a superadmin keypair."""

    def __init__(self, access_key: str) -> None:
        self.access_key = access_key

    @classmethod
    async def create(
        cls,
        user_id: int | str,
        is_active: bool = True,
        is_admin: bool = False,
        resource_policy: str | None = None,
        rate_limit: int | None = None,
        fields: Sequence[Any] = RESULT_FIELDS,
    ) -> dict[str, Any]:
        """Issue a keypair for the user with email ``user_id``: ``{"ok", "msg", "keypair"}``."""
        query = (
            "mutation($user_id: String!, $input: KeyPairInput!) { "
            "create_keypair(user_id: $user_id, props: $input) "
            f"{{ ok msg keypair {{ {field_names(fields)} }} }} }}"
        )
        props = {
            "is_active": is_active,
            "is_admin": is_admin,
            "resource_policy": resource_policy or "default",
            "rate_limit": rate_limit if rate_limit is not None else 5000,
        }
        data = await cls._graphql(query, {"user_id": str(user_id), "input": props})
        result: dict[str, Any] = data["create_keypair"]
        return result

    @classmethod
    async def update(
        cls,
        access_key: str,
        is_active: bool | None = None,
        is_admin: bool | None = None,
        resource_policy: str | None = None,
        rate_limit: int | None = None,
    ) -> dict[str, Any]:
        """Change a keypair; ``None`` leaves a field unchanged. Returns ``{"ok", "msg"}``."""
        query = (
            "mutation($access_key: String!, $input: ModifyKeyPairInput!) { "
            "modify_keypair(access_key: $access_key, props: $input) { ok msg } }"
        )
        props = {
            "is_active": is_active,
            "is_admin": is_admin,
            "resource_policy": resource_policy,
            "rate_limit": rate_limit,
        }
        data = await cls._graphql(query, {"access_key": access_key, "input": props})
        result: dict[str, Any] = data["modify_keypair"]
        return result

    @classmethod
    async def delete(cls, access_key: str) -> dict[str, Any]:
        query = (
            "mutation($access_key: String!) { delete_keypair(access_key: $access_key) { ok msg } }"
        )
        data = await cls._graphql(query, {"access_key": access_key})
        result: dict[str, Any] = data["delete_keypair"]
        return result

    @classmethod
    async def list(
        cls,
        user_id: int | str | None = None,
        is_active: bool | None = None,
        fields: Sequence[Any] = LIST_FIELDS,
    ) -> builtins.list[dict[str, Any]]:
        if user_id is None:
            query = (
                "query($is_active: Boolean) { keypairs(is_active: $is_active) "
                f"{{ {field_names(fields)} }} }}"
            )
            variables: dict[str, Any] = {"is_active": is_active}
        else:
            query = (
                "query($email: String!, $is_active: Boolean) { "
                f"keypairs(email: $email, is_active: $is_active) {{ {field_names(fields)} }} }}"
            )
            variables = {"email": str(user_id), "is_active": is_active}
        data = await cls._graphql(query, variables)
        result: builtins.list[dict[str, Any]] = data["keypairs"]
        return result

    @classmethod
    async def paginated_list(
        cls,
        is_active: bool | None = None,
        domain_name: str | None = None,
        *,
        user_id: str | None = None,
        fields: Sequence[Any] = LIST_FIELDS,
        page_offset: int = 0,
        page_size: int = 20,
        filter: str | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        variables: dict[str, tuple[Any, str]] = {
            "is_active": (is_active, "Boolean"),
            "domain_name": (domain_name, "String"),
            "filter": (filter, "String"),
            "order": (order, "String"),
        }
        if user_id is not None:
            variables["email"] = (user_id, "String")
        return await paginated(
            cls, "keypair_list", variables, fields, page_offset=page_offset, page_size=page_size
        )

    async def info(self, fields: Sequence[Any] = DETAIL_FIELDS) -> dict[str, Any]:
        """This keypair's information (the caller's own keypair needs no privilege)."""
        query = (
            "query($access_key: String) { keypair(access_key: $access_key) "
            f"{{ {field_names(fields)} }} }}"
        )
        data = await self._graphql(query, {"access_key": self.access_key})
        result: dict[str, Any] = data["keypair"]
        return result

    @classmethod
    async def activate(cls, access_key: str) -> dict[str, Any]:
        return await cls.update(access_key, is_active=True)

    @classmethod
    async def deactivate(cls, access_key: str) -> dict[str, Any]:
        return await cls.update(access_key, is_active=False)
