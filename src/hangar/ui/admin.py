"""Administration pages: users, keypairs, API keys, announcement and freeze.

Every page is for administrators only (``@admin_page`` / ``@admin_mutation``: others get
403 and no nav link); each change goes through the same core admin services as the
Backend.AI face's admin routes, with the viewer's principal, so a domain admin meets the
same limits there as here. A refused change re-renders the page with the core's message.
A new keypair's secret is shown once, on the page the creation answers with.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import Forbidden, HangarError
from hangar.core.identity.admin import UserChanges
from hangar.core.identity.apikeys.models import NewApiKey
from hangar.core.identity.models import NewKeyPair
from hangar.core.principal import Principal
from hangar.ui.admin_images import image_routes
from hangar.ui.admin_org import org_routes
from hangar.ui.admin_reports import report_routes
from hangar.ui.context import Viewer, admin_mutation, admin_page, status_of, ui_of


async def _text(request: Request, name: str) -> str:
    form = await request.form()
    return str(form.get(name) or "").strip()


async def _directory(request: Request, caller: Principal) -> dict[str, Any]:
    """Users, domains (superadmins only) and keypairs the caller may see."""
    services = ui_of(request).services
    reads = services.reads
    superadmin = caller.is_superadmin  # API keys and domains span every domain
    return {
        "users": await reads.directory.users(caller),
        "domains": await reads.directory.domains(caller) if superadmin else [],
        "keypairs": await reads.keypairs.keypairs(caller),
        "policies": await reads.keypairs.resource_policies(caller),
        "api_keys": await services.apikeys.listed() if superadmin else [],
    }


async def overview(
    request: Request,
    viewer: Viewer,
    *,
    status_code: int = 200,
    message: str = "",
    issued: NewKeyPair | None = None,
    issued_api_key: NewApiKey | None = None,
) -> Response:
    ui = ui_of(request)
    manager = ui.services.manager
    values = await _directory(request, viewer.principal)
    return ui.render(request, "admin.html", viewer, status_code, message=message, issued=issued,
                     issued_api_key=issued_api_key,
                     announcement=await manager.announcement(), status=await manager.status(),
                     **values)  # fmt: skip


def _back(request: Request, anchor: str = "") -> Response:
    return RedirectResponse(ui_of(request).url("/admin") + anchor, status_code=303)


@admin_page
async def admin_home(request: Request, viewer: Viewer) -> Response:
    return await overview(request, viewer)


@admin_mutation
async def create_user(request: Request, viewer: Viewer) -> Response:
    """A user and, as ``hangar admin user create`` does, their main keypair (signing in
    needs one; an admin's carries admin rights); its secret is shown once on the page this
    answers with."""
    identity = ui_of(request).services.admin.identity
    email = await _text(request, "email")
    role = await _text(request, "role") or "user"
    try:
        await identity.create_user(
            viewer.principal, email=email, password=await _text(request, "password"),
            username=await _text(request, "username") or None,
            full_name=await _text(request, "full_name"),
            role=role,
            domain_name=await _text(request, "domain") or viewer.principal.domain_name,
        )  # fmt: skip
        issued = await identity.create_keypair(  # an admin's main keypair has admin rights
            viewer.principal, email=email, is_admin=role in ("admin", "superadmin")
        )
    except HangarError as exc:
        return await overview(request, viewer, status_code=status_of(exc), message=str(exc))
    return await overview(request, viewer, issued=issued)


@admin_mutation
async def set_user_active(request: Request, viewer: Viewer) -> Response:
    """``.../activate`` or ``.../deactivate`` a user (by email)."""
    identity = ui_of(request).services.admin.identity
    change = request.path_params["change"]
    if change not in ("activate", "deactivate"):
        return ui_of(request).error(request, 404, "No such page.", viewer)
    active = change == "activate"
    try:
        await identity.modify_user(
            viewer.principal, await _text(request, "email"), UserChanges(is_active=active)
        )
    except HangarError as exc:
        return await overview(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#users")


@admin_mutation
async def create_keypair(request: Request, viewer: Viewer) -> Response:
    identity = ui_of(request).services.admin.identity
    try:
        issued = await identity.create_keypair(
            viewer.principal, email=await _text(request, "email"),
            is_admin=await _text(request, "is_admin") == "on",
            resource_policy=await _text(request, "resource_policy") or "default",
        )  # fmt: skip
    except HangarError as exc:
        return await overview(request, viewer, status_code=status_of(exc), message=str(exc))
    return await overview(request, viewer, issued=issued)


@admin_mutation
async def revoke_keypair(request: Request, viewer: Viewer) -> Response:
    identity = ui_of(request).services.admin.identity
    try:
        await identity.delete_keypair(viewer.principal, await _text(request, "access_key"))
    except HangarError as exc:
        return await overview(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#keypairs")


def _superadmin(viewer: Viewer) -> None:
    if not viewer.principal.is_superadmin:
        raise Forbidden("Superadmin privilege required.")


@admin_mutation
async def create_api_key(request: Request, viewer: Viewer) -> Response:
    """A GPU-cloud API key for a user (as ``hangar admin apikey create``): shown once."""
    _superadmin(viewer)
    try:
        issued = await ui_of(request).services.apikeys.create(
            email=await _text(request, "email"), name=await _text(request, "name")
        )
    except HangarError as exc:
        return await overview(request, viewer, status_code=status_of(exc), message=str(exc))
    return await overview(request, viewer, issued_api_key=issued)


@admin_mutation
async def revoke_api_key(request: Request, viewer: Viewer) -> Response:
    _superadmin(viewer)
    try:
        key_id = int(await _text(request, "id"))
    except ValueError:
        return await overview(request, viewer, status_code=400, message="expected a key id")
    try:
        await ui_of(request).services.apikeys.revoke(key_id)
    except HangarError as exc:
        return await overview(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#api-keys")


@admin_mutation
async def set_announcement(request: Request, viewer: Viewer) -> Response:
    """Publish (a message) or clear (``clear=1``) the announcement every client shows."""
    _superadmin(viewer)  # as the Backend.AI face's /manager/announcement
    message = await _text(request, "message")
    clear = await _text(request, "clear") == "1"
    try:
        await ui_of(request).services.manager.set_announcement(
            enabled=not clear, message="" if clear else message
        )
    except HangarError as exc:
        return await overview(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#announcement")


@admin_mutation
async def set_status(request: Request, viewer: Viewer) -> Response:
    """Freeze (``status=frozen``) or unfreeze (``running``) the manager."""
    control = ui_of(request).services.admin.control
    try:
        await control.set_status(viewer.principal, await _text(request, "status"))
    except HangarError as exc:
        return await overview(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#freeze")


routes = [
    Route("/admin", admin_home, methods=["GET"]),
    Route("/admin/users", create_user, methods=["POST"]),
    Route("/admin/users/{change}", set_user_active, methods=["POST"]),
    Route("/admin/keypairs", create_keypair, methods=["POST"]),
    Route("/admin/keypairs/revoke", revoke_keypair, methods=["POST"]),
    Route("/admin/api-keys", create_api_key, methods=["POST"]),
    Route("/admin/api-keys/revoke", revoke_api_key, methods=["POST"]),
    Route("/admin/announcement", set_announcement, methods=["POST"]),
    Route("/admin/status", set_status, methods=["POST"]),
    *report_routes,
    *org_routes,
    *image_routes,
]
