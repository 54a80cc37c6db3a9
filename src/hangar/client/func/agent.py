"""Agent: the nodes that run compute sessions (admin only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hangar.client.func.base import BaseFunction, field_names, paginated

LIST_FIELDS = ("id", "status", "scaling_group", "available_slots", "occupied_slots")
DETAIL_FIELDS = (
    "id", "status", "region", "architecture", "first_contact", "cpu_cur_pct",
    "available_slots", "occupied_slots", "hardware_metadata", "live_stat",
)  # fmt: skip


class Agent(BaseFunction):
    """A shortcut to agent information through GraphQL; needs an admin keypair."""

    @classmethod
    async def paginated_list(
        cls,
        status: str = "ALIVE",
        scaling_group: str | None = None,
        *,
        fields: Sequence[Any] = LIST_FIELDS,
        page_offset: int = 0,
        page_size: int = 20,
        filter: str | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        """One page of agents: ``{"total_count", "items"}``."""
        return await paginated(
            cls,
            "agent_list",
            {
                "status": (status, "String"),
                "scaling_group": (scaling_group, "String"),
                "filter": (filter, "String"),
                "order": (order, "String"),
            },
            fields,
            page_offset=page_offset,
            page_size=page_size,
        )

    @classmethod
    async def detail(cls, agent_id: str, fields: Sequence[Any] = DETAIL_FIELDS) -> dict[str, Any]:
        selection = field_names(fields)
        query = f"query($agent_id: String!) {{ agent(agent_id: $agent_id) {{ {selection} }} }}"
        data = await cls._graphql(query, {"agent_id": agent_id})
        result: dict[str, Any] = data["agent"]
        return result
