"""Administration of images and container registries: the registered images with their
aliases (alias and dealias), the configured registries (add, change login, remove) and a
rescan of one, started as a background task as ``hangar admin image rescan`` starts it.

Everyone with the admin pages reads the lists; changes are for superadmins (the core's
``ImageAdmin`` and ``RegistryService`` refuse anyone else). A registry's password is
write-only: the page says whether one is set, never what it is.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import Forbidden, HangarError
from hangar.ui.context import Viewer, admin_mutation, admin_page, status_of, ui_of


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


async def images_page(
    request: Request, viewer: Viewer, *, status_code: int = 200, message: str = "",
    notice: str = "",
) -> Response:  # fmt: skip
    services = ui_of(request).services
    images = await services.admin.images.find(viewer.principal)
    registries = await services.images.registries.all() if services.images.registries else []
    return ui_of(request).render(request, "admin_images.html", viewer, status_code,
                                 message=message, notice=notice, images=images,
                                 registries=registries)  # fmt: skip


def _back(request: Request, anchor: str) -> Response:
    return RedirectResponse(ui_of(request).url("/admin/images") + anchor, status_code=303)


@admin_page
async def images_home(request: Request, viewer: Viewer) -> Response:
    return await images_page(request, viewer)


@admin_mutation
async def alias_image(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    try:
        await ui_of(request).services.admin.images.alias(
            viewer.principal, _text(form, "alias"), _text(form, "target")
        )
    except HangarError as exc:
        return await images_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#images")


@admin_mutation
async def dealias_image(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    try:
        await ui_of(request).services.admin.images.dealias(viewer.principal, _text(form, "alias"))
    except HangarError as exc:
        return await images_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#images")


@admin_mutation
async def set_registry(request: Request, viewer: Viewer) -> Response:
    """Add a registry, or change its address or login (an empty field keeps it)."""
    form, registries = await request.form(), ui_of(request).services.images.registries
    try:
        if registries is None:
            raise Forbidden("No registry service in this server.")
        await registries.set(
            viewer.principal, _text(form, "hostname"), url=_text(form, "url") or None,
            username=_text(form, "username") or None,
            password=str(form.get("password") or "") or None,
        )  # fmt: skip
    except HangarError as exc:
        return await images_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#registries")


@admin_mutation
async def remove_registry(request: Request, viewer: Viewer) -> Response:
    form, registries = await request.form(), ui_of(request).services.images.registries
    try:
        if registries is None:
            raise Forbidden("No registry service in this server.")
        await registries.remove(viewer.principal, _text(form, "hostname"))
    except HangarError as exc:
        return await images_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return _back(request, "#registries")


@admin_mutation
async def rescan(request: Request, viewer: Viewer) -> Response:
    services, form = ui_of(request).services, await request.form()
    try:
        if not viewer.principal.is_superadmin:
            raise Forbidden("Superadmin privilege required.")
        task = await services.images.rescan_in_background(
            services.bgtasks, viewer.principal, _text(form, "hostname") or None
        )
    except HangarError as exc:
        return await images_page(request, viewer, status_code=status_of(exc), message=str(exc))
    notice = f"Rescan started (background task {task}); reload to see new images."
    return await images_page(request, viewer, notice=notice)


image_routes = [
    Route("/admin/images", images_home, methods=["GET"]),
    Route("/admin/images/alias", alias_image, methods=["POST"]),
    Route("/admin/images/dealias", dealias_image, methods=["POST"]),
    Route("/admin/registries", set_registry, methods=["POST"]),
    Route("/admin/registries/remove", remove_registry, methods=["POST"]),
    Route("/admin/registries/rescan", rescan, methods=["POST"]),
]
