"""Administration of the organisation: projects (groups), domains and keypair resource
policies.

A domain admin creates and deactivates projects in their own domain and reads the resource
policies; domains and policies are changed by superadmins only (the core's ``OrgAdmin``
refuses anyone else, as the Backend.AI face's GraphQL mutations do). A refused change
re-renders the page with the core's message.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import HangarError, InvalidRequest
from hangar.ui.context import Viewer, admin_mutation, admin_page, status_of, ui_of

POLICY_NUMBERS = ("max_concurrent_sessions", "max_session_lifetime", "idle_timeout",
                  "max_vfolder_count", "max_containers_per_session")  # fmt: skip


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


async def org_page(
    request: Request, viewer: Viewer, *, status_code: int = 200, message: str = ""
) -> Response:
    ui, me = ui_of(request), viewer.principal
    reads = ui.services.reads
    return ui.render(
        request, "admin_org.html", viewer, status_code, message=message,
        groups=await reads.directory.groups(me),
        domains=await reads.directory.domains(me) if me.is_superadmin else [],
        policies=await reads.keypairs.resource_policies(me),
    )  # fmt: skip


def _back(request: Request, anchor: str) -> Response:
    return RedirectResponse(ui_of(request).url("/admin/org") + anchor, status_code=303)


@admin_page
async def org_home(request: Request, viewer: Viewer) -> Response:
    return await org_page(request, viewer)


@admin_mutation
async def create_group(request: Request, viewer: Viewer) -> Response:
    """A project in the viewer's domain (a superadmin may name another)."""
    form, me = await request.form(), viewer.principal
    domain = _text(form, "domain") if me.is_superadmin else ""
    try:
        await ui_of(request).services.admin.identity.create_group(
            me, name=_text(form, "name"), domain_name=domain or me.domain_name,
            description=_text(form, "description"),
        )  # fmt: skip
    except HangarError as exc:
        return await org_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#groups")


@admin_mutation
async def deactivate_group(request: Request, viewer: Viewer) -> Response:
    raw = str(request.path_params["id"])
    try:
        group_id = uuid.UUID(raw)
    except ValueError:
        return ui_of(request).error(request, 404, "No such project.", viewer)
    try:
        await ui_of(request).services.admin.identity.delete_group(viewer.principal, group_id)
    except HangarError as exc:
        return await org_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#groups")


@admin_mutation
async def create_domain(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    try:
        await ui_of(request).services.admin.identity.create_domain(
            viewer.principal, _text(form, "name"), {"description": _text(form, "description")}
        )
    except HangarError as exc:
        return await org_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#domains")


def _slots(text: str) -> dict[str, Any]:
    """``cpu=4 mem=8g cuda.device=1`` (spaces or commas between) as a slots object."""
    slots: dict[str, Any] = {}
    for item in text.replace(",", " ").split():
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise InvalidRequest(f"total_resource_slots: {item!r} is not key=value")
        slots[key] = value
    return slots


def _policy_fields(form: FormData) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in POLICY_NUMBERS:
        text = _text(form, key)
        if text:
            if not text.lstrip("-").isdigit() or len(text) > 12:
                raise InvalidRequest(f"{key} must be a whole number")
            fields[key] = int(text)
    fields["default_for_unspecified"] = _text(form, "default_for_unspecified") or "UNLIMITED"
    fields["total_resource_slots"] = _slots(_text(form, "total_resource_slots"))
    return fields


@admin_mutation
async def create_policy(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    try:
        await ui_of(request).services.admin.identity.create_policy(
            viewer.principal, _text(form, "name"), _policy_fields(form)
        )
    except HangarError as exc:
        return await org_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#policies")


@admin_mutation
async def delete_policy(request: Request, viewer: Viewer) -> Response:
    try:
        await ui_of(request).services.admin.identity.delete_policy(
            viewer.principal, request.path_params["name"]
        )
    except HangarError as exc:
        return await org_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#policies")


org_routes = [
    Route("/admin/org", org_home, methods=["GET"]),
    Route("/admin/groups", create_group, methods=["POST"]),
    Route("/admin/groups/{id}/deactivate", deactivate_group, methods=["POST"]),
    Route("/admin/domains", create_domain, methods=["POST"]),
    Route("/admin/policies", create_policy, methods=["POST"]),
    Route("/admin/policies/{name}/delete", delete_policy, methods=["POST"]),
]
