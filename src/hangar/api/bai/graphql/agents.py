"""Agents (superadmins only): listings, detail, and the modify/decommission mutations."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry

from hangar.agent.models import NodeUsage
from hangar.api.bai.filters import parse_filter, parse_order
from hangar.api.bai.graphql.context import Info
from hangar.api.bai.graphql.mutations import SimpleResult, simple
from hangar.api.bai.graphql.scalars import JSONString, as_json
from hangar.api.bai.graphql.sessions import ComputeContainer, container_of
from hangar.core.admin.agents import AGENT_FIELDS, AgentView
from hangar.core.filters import Compare, Op
from hangar.core.scheduler.slots import format_amount


def _amount(slots: dict[str, str], name: str) -> Decimal:
    try:
        return Decimal(str(slots.get(name, "0")))
    except ArithmeticError:
        return Decimal(0)


def _gpus(slots: dict[str, str]) -> float:
    return float(_amount(slots, "cuda.device") + _amount(slots, "cuda.shares"))


def _stat(current: Decimal, capacity: Decimal, unit: str) -> dict[str, Any]:
    pct = (current / capacity * 100) if capacity else Decimal(0)
    return {
        "current": format_amount(current),
        "capacity": format_amount(capacity),
        "pct": f"{pct:.2f}",
        "unit_hint": unit,
    }


def _percent(value: float) -> Decimal:
    return Decimal(str(round(value, 2)))


def live_stat_of(view: AgentView, usage: NodeUsage | None) -> dict[str, Any]:
    """The agent host's CPU (per core) and memory use, in the client's shape; without a
    reading (the agent does not answer) the figures its sessions last reported."""
    if usage is not None and usage.cpu_util:
        per_core = [_percent(v) for v in usage.cpu_util]
        mem_used, mem_capacity = Decimal(usage.mem_used), Decimal(usage.mem_total)
    else:
        cores = max(1, int(_amount(view.available_slots, "cpu")))
        cpu_used = min(view.usage.get("cpu_util", Decimal(0)), Decimal(cores * 100))
        per_core = [cpu_used / cores] * cores
        mem_used, mem_capacity = (
            view.usage.get("mem", Decimal(0)),
            _amount(view.available_slots, "mem"),
        )
    cpu_capacity = Decimal(len(per_core) * 100)
    return {
        "node": {
            "cpu_util": _stat(sum(per_core, Decimal(0)), cpu_capacity, "percent"),
            "mem": _stat(mem_used, mem_capacity, "bytes"),
        },
        "devices": {
            "cpu_util": {str(i): _stat(v, Decimal(100), "percent") for i, v in enumerate(per_core)},
            "mem": {"root": _stat(mem_used, mem_capacity, "bytes")},
        },
    }


@strawberry.type
class Agent:
    id: strawberry.ID | None
    status: str | None
    status_changed: datetime | None
    region: str | None
    scaling_group: str | None
    schedulable: bool | None
    available_slots: JSONString | None
    occupied_slots: JSONString | None
    addr: str | None
    architecture: str | None
    first_contact: datetime | None
    lost_at: datetime | None
    version: str | None
    compute_plugins: JSONString | None
    hardware_metadata: JSONString | None
    mem_slots: int | None
    cpu_slots: float | None
    gpu_slots: float | None
    tpu_slots: float | None
    used_mem_slots: int | None
    used_cpu_slots: float | None
    used_gpu_slots: float | None
    used_tpu_slots: float | None

    view: strawberry.Private[AgentView]
    reading: strawberry.Private[asyncio.Future[NodeUsage | None] | None] = None

    async def _live_stat(self, info: Info) -> dict[str, Any]:
        """One reading of the agent per object, however many of its fields are asked."""
        if self.view.status != "ALIVE":
            return live_stat_of(self.view, None)
        if self.reading is None:
            agents = info.context.services.agents
            self.reading = asyncio.ensure_future(agents.usage(self.view.id))
        return live_stat_of(self.view, await self.reading)

    @strawberry.field
    async def live_stat(self, info: Info) -> JSONString | None:
        return as_json(await self._live_stat(info))

    @strawberry.field
    async def cpu_cur_pct(self, info: Info) -> float | None:
        return float((await self._live_stat(info))["node"]["cpu_util"]["pct"])

    @strawberry.field
    async def mem_cur_bytes(self, info: Info) -> float | None:
        return float((await self._live_stat(info))["node"]["mem"]["current"])

    @strawberry.field
    async def compute_containers(
        self, info: Info, status: str | None = None
    ) -> list[ComputeContainer | None] | None:
        ctx = info.context
        page = await ctx.services.reads.sessions.session_page(
            ctx.caller,
            limit=1000,
            offset=0,
            status=status,
            filter=Compare("agent", Op.EQ, self.view.id),
        )
        return [container_of(v) for v in page.items]


def agent_of(v: AgentView) -> Agent:
    return Agent(
        id=strawberry.ID(v.id),
        status=v.status,
        status_changed=v.status_changed,
        region=v.region,
        scaling_group=v.scaling_group,
        schedulable=v.schedulable,
        available_slots=as_json(v.available_slots),
        occupied_slots=as_json(v.occupied_slots),
        addr=v.addr,
        architecture=v.architecture,
        first_contact=v.first_contact,
        lost_at=v.lost_at,
        version=v.version,
        compute_plugins=as_json(v.compute_plugins),
        hardware_metadata=as_json({"cuda": {"devices": v.devices}} if v.devices else {}),
        mem_slots=int(_amount(v.available_slots, "mem")),
        cpu_slots=float(_amount(v.available_slots, "cpu")),
        gpu_slots=_gpus(v.available_slots),
        tpu_slots=0.0,
        used_mem_slots=int(_amount(v.occupied_slots, "mem")),
        used_cpu_slots=float(_amount(v.occupied_slots, "cpu")),
        used_gpu_slots=_gpus(v.occupied_slots),
        used_tpu_slots=0.0,
        view=v,
    )


@strawberry.type
class AgentList:
    items: list[Agent | None]
    total_count: int


@strawberry.input
class ModifyAgentInput:
    schedulable: bool | None = None
    scaling_group: str | None = None


@strawberry.type
class AgentQuery:
    @strawberry.field
    async def agent(self, info: Info, agent_id: str) -> Agent | None:
        ctx = info.context
        view = await ctx.services.admin.agents.get(ctx.caller, agent_id)
        return agent_of(view) if view is not None else None

    @strawberry.field
    async def agents(
        self, info: Info, scaling_group: str | None = None, status: str | None = None
    ) -> list[Agent | None] | None:
        ctx = info.context
        views = await ctx.services.admin.agents.find(
            ctx.caller, scaling_group=scaling_group, status=status
        )
        return [agent_of(v) for v in views]

    @strawberry.field
    async def agent_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        filter: str | None = None,
        order: str | None = None,
        scaling_group: str | None = None,
        status: str | None = None,
    ) -> AgentList | None:
        ctx = info.context
        page = await ctx.services.admin.agents.page(
            ctx.caller,
            limit=limit,
            offset=offset,
            scaling_group=scaling_group,
            status=status,
            filter=parse_filter(filter, AGENT_FIELDS),
            order=parse_order(order, AGENT_FIELDS),
        )
        return AgentList(items=[agent_of(v) for v in page.items], total_count=page.total_count)


@strawberry.type
class AgentMutation:
    @strawberry.mutation
    async def modify_agent(self, info: Info, id: str, props: ModifyAgentInput) -> SimpleResult:
        agents = info.context.services.admin.agents
        return await simple(
            info,
            "modify_agent",
            lambda: agents.modify(
                info.context.caller,
                id,
                schedulable=props.schedulable,
                scaling_group=props.scaling_group,
            ),
        )

    # Retire an agent that runs no sessions (Hangar extension).
    @strawberry.mutation
    async def decommission_agent(self, info: Info, id: str) -> SimpleResult:
        agents = info.context.services.admin.agents
        return await simple(
            info, "decommission_agent", lambda: agents.decommission(info.context.caller, id)
        )
