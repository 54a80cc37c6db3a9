"""``/resource``, ``/config`` and ``/scaling-groups``: presets, what may still be launched,
usage over a period, inventory, slot types, and the scaling groups available to a caller."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field
from starlette.requests import Request

from hangar.api.bai import usage_wire
from hangar.api.bai.auth import admin, superadmin, user
from hangar.api.bai.params import Params, read_params
from hangar.api.bai.usage_wire import group_usage
from hangar.api.common.context import services_of
from hangar.api.common.routing import Router
from hangar.core.resources.service import month_range, parse_day

router = Router()

SLOT_TYPES = {"cpu": "count", "mem": "bytes", "cuda.device": "count", "cuda.shares": "count"}


class CheckParams(Params):
    scaling_group: str | None = Field(
        None, validation_alias=AliasChoices("scaling_group", "scalingGroup")
    )
    group: str = Field("default", validation_alias=AliasChoices("group", "group_name"))


class MonthParams(Params):
    month: str
    group_ids: list[str] | None = None


class PeriodParams(Params):
    group_id: str | None = None
    group_ids: list[str] | None = None
    start_date: str
    end_date: str


class AvailableParams(Params):
    group: str | None = Field(
        None, validation_alias=AliasChoices("group", "group_id", "group_name")
    )


@router.get("/resource/presets")
async def presets(request: Request) -> dict[str, Any]:
    user(request)
    found = await services_of(request).admin.resources.presets()
    return {
        "presets": [
            {
                "name": p.name,
                "resource_slots": p.resource_slots,
                "shared_memory": str(p.shared_memory) if p.shared_memory else None,
            }
            for p in found
        ]
    }


@router.post("/resource/check-presets")
async def check_presets(request: Request) -> dict[str, Any]:
    caller = user(request)
    params = await read_params(request, CheckParams)
    room = await services_of(request).admin.resources.check_presets(
        caller, group=params.group, scaling_group=params.scaling_group
    )
    return usage_wire.check_presets(room)


@router.post("/resource/recalculate-usage")
async def recalculate_usage(request: Request) -> dict[str, Any]:
    """Usage is derived from sessions on every read, so there is nothing to recalculate."""
    superadmin(request)
    return {}


@router.get("/resource/usage/month")
async def usage_month(request: Request) -> list[dict[str, Any]]:
    caller = superadmin(request)
    params = await read_params(request, MonthParams)
    start, end = month_range(params.month)
    groups = await services_of(request).admin.resources.usage(
        caller, group_ids=params.group_ids or [], start=start, end=end
    )
    return [group_usage(g) for g in groups]


@router.get("/resource/usage/period")
async def usage_period(request: Request) -> list[dict[str, Any]]:
    caller = admin(request)
    params = await read_params(request, PeriodParams)
    ids = list(params.group_ids or []) + ([params.group_id] if params.group_id else [])
    start = parse_day(params.start_date, "start_date")
    end = parse_day(params.end_date, "end_date")
    groups = await services_of(request).admin.resources.usage(
        caller, group_ids=ids, start=start, end=end
    )
    return [group_usage(g) for g in groups]


@router.get("/resource/inventory")
async def inventory(request: Request) -> dict[str, Any]:
    caller = superadmin(request)
    services = services_of(request)
    found = await services.admin.resources.inventory(caller, services.settings.data_dir)
    return usage_wire.inventory(found)


@router.get("/config/resource-slots")
async def resource_slots(request: Request) -> dict[str, str]:
    user(request)
    return dict(SLOT_TYPES)


@router.get("/config/docker-registries")
async def docker_registries(request: Request) -> dict[str, str]:
    admin(request)
    services = services_of(request)
    names = await services.admin.images.registries()
    found = {name: f"local://{name}" for name in names}
    configured = services.images.registries
    for registry in await configured.all() if configured is not None else []:
        found[registry.hostname] = registry.url
    return found


@router.get("/scaling-groups")
async def available_scaling_groups(request: Request) -> dict[str, Any]:
    caller = user(request)
    params = await read_params(request, AvailableParams)
    names = await services_of(request).admin.scaling.available(caller, params.group)
    return {"scaling_groups": [{"name": name} for name in names]}


@router.get("/scaling-groups/{name}/wsproxy-version")
async def wsproxy_version(request: Request) -> dict[str, str]:
    user(request)
    return {"wsproxy_version": "v1"}
