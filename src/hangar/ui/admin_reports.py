"""Administration reports and resources: usage and cost (with CSV export), scaling groups
and agents with their GPUs and health, resource presets.

Usage comes from ``services.billing.usage`` as ``hangar admin usage`` reads it. A superadmin
sees every user and project of the installation; a domain admin sees the same report cut to
their domain (the users and projects the directory shows them, the total theirs), in the
page and both CSV exports (per user, and per project with ``?by=project``). Scaling groups
and agents serve every domain: a domain admin gets a page saying so (403), not their list.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.billing.models import ZERO, Usage, UsageLine
from hangar.core.errors import HangarError, InvalidRequest
from hangar.ui.context import Viewer, admin_mutation, admin_page, status_of, ui_of

CSV_HEADER = ["user", "cost", "currency", "gpu_hours", "cpu_core_hours", "storage_gib_hours",
              "items", "period_start", "period_end"]  # fmt: skip


def _day(text: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{what}: expected a date such as 2026-03-01") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _period(request: Request, now: datetime) -> tuple[datetime, datetime | None]:
    """``from`` / ``to`` (dates, ``to`` exclusive) from the query; default: the last 7 days."""
    start = request.query_params.get("from", "").strip()
    end = request.query_params.get("to", "").strip()
    begin = _day(start, "from") if start else now - timedelta(days=7)
    return begin, _day(end, "to") if end else None


async def _usage(request: Request, viewer: Viewer) -> Usage:
    """The period's usage; a domain admin's cut to the projects of their domain (the user
    lines are cut in :func:`_user_lines`, and the total follows them)."""
    services = ui_of(request).services
    start, end = _period(request, services.clock.now())
    usage = await services.billing.usage(start, end)
    if viewer.principal.is_superadmin:
        return usage
    groups = {g.id for g in await services.reads.directory.groups(viewer.principal)}
    users = {u.uuid for u in await services.reads.directory.users(viewer.principal)}
    return dataclasses.replace(
        usage, by_user=tuple(line for line in usage.by_user if line.subject in users),
        by_project=tuple(line for line in usage.by_project if line.subject in groups),
    )  # fmt: skip


async def _user_lines(request: Request, viewer: Viewer, usage: Usage) -> list[UsageLine]:
    """One line per user the viewer sees (zero when nothing was metered), costliest first;
    users no longer listed but metered in the period keep their line."""
    users = await ui_of(request).services.reads.directory.users(viewer.principal)
    metered: dict[uuid.UUID, UsageLine] = {line.subject: line for line in usage.by_user}
    lines = [metered.pop(u.uuid, UsageLine(u.uuid, u.email, ZERO, ZERO, ZERO, ZERO, 0))
             for u in users]  # fmt: skip
    if viewer.principal.is_superadmin:  # a domain admin's usage has their users only
        lines.extend(metered.values())
    return sorted(lines, key=lambda line: (-line.cost, line.label))


@admin_page
async def usage_page(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    usage = await _usage(request, viewer)
    scope = "every domain" if viewer.principal.is_superadmin else viewer.principal.domain_name
    return ui.render(request, "admin_usage.html", viewer, usage=usage, scope=scope,
                     users=await _user_lines(request, viewer, usage),
                     query=request.url.query)  # fmt: skip


def _money(value: Decimal) -> str:
    return f"{value:.4f}"


@admin_page
async def usage_csv(request: Request, viewer: Viewer) -> Response:
    """Per user (the default) or, with ``?by=project``, per project."""
    by = request.query_params.get("by", "user").strip() or "user"
    if by not in ("user", "project"):
        raise InvalidRequest("by: user or project")
    usage = await _usage(request, viewer)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([by, *CSV_HEADER[1:]])
    period = [usage.start.isoformat(), usage.end.isoformat()]
    lines = await _user_lines(request, viewer, usage) if by == "user" else usage.by_project
    for line in lines:
        hours = [line.gpu_hours, line.cpu_core_hours, line.storage_gib_hours]
        writer.writerow([line.label, _money(line.cost), usage.currency, *hours, line.items,
                         *period])  # fmt: skip
    name = f"usage-{by}s-{usage.start:%Y%m%d}-{usage.end:%Y%m%d}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _gpus(devices: list[dict[str, Any]]) -> list[str]:
    """The agent's accelerators as ``model`` labels (devices other than CPUs and memory)."""
    found = []
    for device in devices:
        kind = str(device.get("slot_name") or device.get("type") or "")
        if kind.startswith(("cpu", "mem")):
            continue
        found.append(str(device.get("model") or device.get("model_name") or kind))
    return found


@admin_page
async def agents_page(request: Request, viewer: Viewer) -> Response:
    admin = ui_of(request).services.admin
    if not viewer.principal.is_superadmin:
        return ui_of(request).render(request, "admin_agents.html", viewer, 403, refused=True,
                                     agents=[], groups=[], gpus_of=_gpus)  # fmt: skip
    agents = await admin.agents.find(viewer.principal)
    groups = await admin.scaling.find(viewer.principal)
    return ui_of(request).render(request, "admin_agents.html", viewer, agents=agents,
                                 groups=groups, gpus_of=_gpus)  # fmt: skip


async def _presets_page(
    request: Request, viewer: Viewer, *, status_code: int = 200, message: str = ""
) -> Response:
    presets = await ui_of(request).services.admin.resources.presets()
    return ui_of(request).render(request, "admin_presets.html", viewer, status_code,
                                 presets=presets, message=message)  # fmt: skip


@admin_page
async def presets_page(request: Request, viewer: Viewer) -> Response:
    return await _presets_page(request, viewer)


async def _slots(request: Request) -> dict[str, str]:
    form = await request.form()
    slots = {key: str(form.get(key) or "").strip() for key in ("cpu", "mem", "cuda.device")}
    return {key: value for key, value in slots.items() if value}


@admin_mutation
async def save_preset(request: Request, viewer: Viewer) -> Response:
    resources = ui_of(request).services.admin.resources
    form = await request.form()
    try:
        await resources.save_preset(
            viewer.principal, str(form.get("name") or "").strip(),
            resource_slots=await _slots(request),
            shared_memory=str(form.get("shared_memory") or "").strip() or None, create=True,
        )  # fmt: skip
    except HangarError as exc:
        return await _presets_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(ui_of(request).url("/admin/presets"), status_code=303)


@admin_mutation
async def delete_preset(request: Request, viewer: Viewer) -> Response:
    resources = ui_of(request).services.admin.resources
    try:
        await resources.delete_preset(viewer.principal, request.path_params["name"])
    except HangarError as exc:
        return await _presets_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(ui_of(request).url("/admin/presets"), status_code=303)


report_routes = [
    Route("/admin/usage", usage_page, methods=["GET"]),
    Route("/admin/usage.csv", usage_csv, methods=["GET"]),
    Route("/admin/agents", agents_page, methods=["GET"]),
    Route("/admin/presets", presets_page, methods=["GET"]),
    Route("/admin/presets", save_preset, methods=["POST"]),
    Route("/admin/presets/{name}/delete", delete_preset, methods=["POST"]),
]
