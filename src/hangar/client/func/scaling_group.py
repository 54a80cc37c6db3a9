"""ScalingGroup: partitions of the cluster's agents."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hangar.client.func.base import BaseFunction, field_names

LIST_FIELDS = ("name", "description", "is_active", "created_at", "driver", "scheduler")
DETAIL_FIELDS = (
    "name", "description", "is_active", "created_at", "driver", "driver_opts",
    "scheduler", "scheduler_opts",
)  # fmt: skip


def _opts(value: Mapping[str, Any] | None) -> str | None:
    return json.dumps(value) if value is not None else None


class ScalingGroup(BaseFunction):
    """Scaling groups available to the caller; administration needs a superadmin keypair."""

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    async def list_available(cls, group: str) -> builtins.list[dict[str, Any]]:
        """The scaling groups the caller may use in project ``group`` (name or id)."""
        result = await cls._call("GET", "/scaling-groups", params={"group": group})
        groups: builtins.list[dict[str, Any]] = result["scaling_groups"]
        return groups

    @classmethod
    async def list(cls, fields: Sequence[Any] = LIST_FIELDS) -> builtins.list[dict[str, Any]]:
        query = (
            "query($is_active: Boolean) { scaling_groups(is_active: $is_active) "
            f"{{ {field_names(fields)} }} }}"
        )
        data = await cls._graphql(query, {"is_active": None})
        result: builtins.list[dict[str, Any]] = data["scaling_groups"]
        return result

    @classmethod
    async def detail(cls, name: str, fields: Sequence[Any] = DETAIL_FIELDS) -> dict[str, Any]:
        query = f"query($name: String) {{ scaling_group(name: $name) {{ {field_names(fields)} }} }}"
        data = await cls._graphql(query, {"name": name})
        result: dict[str, Any] = data["scaling_group"]
        return result

    @classmethod
    async def create(
        cls,
        name: str,
        description: str = "",
        is_active: bool = True,
        driver: str | None = None,
        driver_opts: Mapping[str, str] | None = None,
        scheduler: str | None = None,
        scheduler_opts: Mapping[str, str] | None = None,
        fields: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        selection = field_names(list(fields or ("name",)))
        query = (
            "mutation($name: String!, $input: CreateScalingGroupInput!) { "
            f"create_scaling_group(name: $name, props: $input) {{ ok msg scaling_group "
            f"{{ {selection} }} }} }}"
        )
        props = {
            "description": description,
            "is_active": is_active,
            "driver": driver or "static",
            "driver_opts": _opts(driver_opts) or "{}",
            "scheduler": scheduler or "fifo",
            "scheduler_opts": _opts(scheduler_opts) or "{}",
        }
        data = await cls._graphql(query, {"name": name, "input": props})
        result: dict[str, Any] = data["create_scaling_group"]
        return result

    @classmethod
    async def update(
        cls,
        name: str,
        description: str = "",
        is_active: bool = True,
        driver: str | None = None,
        driver_opts: Mapping[str, str] | None = None,
        scheduler: str | None = None,
        scheduler_opts: Mapping[str, str] | None = None,
        fields: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        query = (
            "mutation($name: String!, $input: ModifyScalingGroupInput!) { "
            "modify_scaling_group(name: $name, props: $input) { ok msg } }"
        )
        props = {
            "description": description,
            "is_active": is_active,
            "driver": driver,
            "driver_opts": _opts(driver_opts),
            "scheduler": scheduler,
            "scheduler_opts": _opts(scheduler_opts),
        }
        data = await cls._graphql(query, {"name": name, "input": props})
        result: dict[str, Any] = data["modify_scaling_group"]
        return result

    @classmethod
    async def _mutate(cls, field: str, args: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
        declared = ", ".join(f"${k}: {t}" for k, (_, t) in args.items())
        passed = ", ".join(f"{k}: ${k}" for k in args)
        query = f"mutation({declared}) {{ {field}({passed}) {{ ok msg }} }}"
        data = await cls._graphql(query, {k: v for k, (v, _) in args.items()})
        result: dict[str, Any] = data[field]
        return result

    @classmethod
    async def delete(cls, name: str) -> dict[str, Any]:
        return await cls._mutate("delete_scaling_group", {"name": (name, "String!")})

    @classmethod
    async def associate_domain(cls, scaling_group: str, domain: str) -> dict[str, Any]:
        return await cls._mutate(
            "associate_scaling_group_with_domain",
            {"scaling_group": (scaling_group, "String!"), "domain": (domain, "String!")},
        )

    @classmethod
    async def dissociate_domain(cls, scaling_group: str, domain: str) -> dict[str, Any]:
        return await cls._mutate(
            "disassociate_scaling_group_with_domain",
            {"scaling_group": (scaling_group, "String!"), "domain": (domain, "String!")},
        )

    @classmethod
    async def dissociate_all_domain(cls, domain: str) -> dict[str, Any]:
        return await cls._mutate(
            "disassociate_all_scaling_groups_with_domain", {"domain": (domain, "String!")}
        )

    @classmethod
    async def associate_group(cls, scaling_group: str, group_id: str) -> dict[str, Any]:
        return await cls._mutate(
            "associate_scaling_group_with_user_group",
            {"scaling_group": (scaling_group, "String!"), "user_group": (group_id, "UUID!")},
        )

    @classmethod
    async def dissociate_group(cls, scaling_group: str, group_id: str) -> dict[str, Any]:
        return await cls._mutate(
            "disassociate_scaling_group_with_user_group",
            {"scaling_group": (scaling_group, "String!"), "user_group": (group_id, "String!")},
        )

    @classmethod
    async def dissociate_all_group(cls, group_id: str) -> dict[str, Any]:
        return await cls._mutate(
            "disassociate_all_scaling_groups_with_group", {"user_group": (group_id, "UUID!")}
        )
