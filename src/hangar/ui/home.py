"""The home page: what the signed-in user has running, what is free, what it costs today."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hangar.core.billing.models import LimitScope
from hangar.core.compute.views import SessionView
from hangar.core.resources.accelerators import AcceleratorGroup
from hangar.core.services import Services
from hangar.ui.context import Viewer, page, ui_of
from hangar.ui.sessions_data import LIVE, my_sessions

QUIET = frozenset({"TERMINATED", "STOPPED", "FAILED"})


@dataclass(frozen=True)
class GpuType:
    model: str
    total: int
    free: int

    @property
    def used(self) -> int:
        return self.total - self.free


@dataclass(frozen=True)
class Cost:
    spent: Decimal
    limit: Decimal | None

    @property
    def percent(self) -> int:
        if not self.limit:
            return 0
        return min(100, int(self.spent * 100 / self.limit))


def gpu_types(groups: list[AcceleratorGroup]) -> list[GpuType]:
    """Devices per model across scaling groups."""
    totals: dict[str, list[int]] = {}
    for group in groups:
        entry = totals.setdefault(group.model, [0, 0])
        entry[0] += group.total
        entry[1] += group.free
    return [GpuType(model, t, f) for model, (t, f) in sorted(totals.items())]


async def today_cost(services: Services, viewer: Viewer) -> Cost:
    user = viewer.principal.user_uuid
    spent = await services.billing.spent_today(user_uuid=user)
    limits = [
        lim.amount
        for lim in await services.billing.limits()
        if lim.scope is LimitScope.USER and lim.subject == user
    ]
    return Cost(spent, min(limits) if limits else None)


async def cloud_things(services: Services, viewer: Viewer) -> dict[str, list[Any]]:
    pods = await services.pods.owned(viewer.principal)
    endpoints = await services.endpoints.owned(viewer.principal)
    return {
        "pods": [p for p in pods if p.status.value not in QUIET],
        "endpoints": [e for e in endpoints if e.status.value not in QUIET],
    }


@dataclass(frozen=True)
class Queued:
    """One of the viewer's experiments waiting in a queue, at ``position`` (1: next)."""

    task_name: str
    queue: str
    position: int


async def queued(services: Services, viewer: Viewer) -> list[Queued]:
    """The viewer's own experiments waiting in the domain's queues, in queue order."""
    principal = viewer.principal
    queues = await services.queues.reads.all(principal)
    waiting = {e.task_id: (q, i) for q in queues for i, e in enumerate(q.entries, start=1)}
    tasks = await services.tracking.experiments.task_reads.find(principal, list(waiting))
    mine = [t for t in tasks if t.user == principal.user_uuid]
    found = [Queued(t.name, (q := waiting[t.id][0]).display_name or q.name, waiting[t.id][1])
             for t in mine]  # fmt: skip
    return sorted(found, key=lambda item: (item.queue, item.position))


@page
async def home(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    services = ui.services
    sessions: list[SessionView] = await my_sessions(services, viewer, status=LIVE, limit=20)
    announcement = await services.manager.announcement()
    values: dict[str, Any] = dict(await cloud_things(services, viewer))
    return ui.render(
        request,
        "home.html",
        viewer,
        200,
        sessions=sessions,
        gpus=gpu_types(await services.accelerators.groups()),
        cost=await today_cost(services, viewer),
        queues=await queued(services, viewer),
        announcement=announcement.message if announcement.enabled else "",
        **values,
    )


routes = [Route("/", home, methods=["GET"])]
