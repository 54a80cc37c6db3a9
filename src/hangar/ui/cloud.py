"""GPU cloud pages of the signed-in user: pods, VMs and volumes with their cost so far, API
keys (create: the key is shown once; revoke) and registry credentials (list, delete).

The same calls as the GPU-cloud face's routes (api/cloud/routes/*.py) with the viewer's
principal: the services answer with the viewer's own things only, and another user's key or
credential id is "not found" here too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.billing.models import Metered
from hangar.core.errors import HangarError
from hangar.core.identity.apikeys.models import NewApiKey
from hangar.ui.cloud_edits import edit_routes
from hangar.ui.cloud_forms import form_routes, path_id
from hangar.ui.cloud_pods import pod_routes
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of

MAX_VOLUMES = 1000


async def _resources(request: Request, viewer: Viewer) -> dict[str, Any]:
    services = ui_of(request).services
    me = viewer.principal
    pods = await services.pods.owned(me)
    vms = await services.vms.owned(me)
    volumes, _ = await services.volumes.page(me, limit=MAX_VOLUMES)
    cost: dict[str, dict[Any, Decimal]] = {
        "pod": await services.billing.cost(Metered.POD, [p.id for p in pods]),
        "vm": await services.billing.cost(Metered.VM, [v.id for v in vms]),
        "volume": await services.billing.cost(Metered.VOLUME, [v.volume.id for v in volumes]),
    }
    return {"pods": pods, "vms": vms, "volumes": volumes, "cost": cost}


async def cloud_page(
    request: Request,
    viewer: Viewer,
    *,
    status_code: int = 200,
    message: str = "",
    issued: NewApiKey | None = None,
) -> Response:
    ui = ui_of(request)
    services = ui.services
    keys = await services.apikeys.listed(user_uuid=viewer.principal.user_uuid)
    credentials = await services.registry_auths.owned(viewer.principal.user_uuid)
    return ui.render(request, "cloud.html", viewer, status_code, message=message,
                     issued=issued, keys=keys, credentials=credentials,
                     **await _resources(request, viewer))  # fmt: skip


@page
async def cloud_home(request: Request, viewer: Viewer) -> Response:
    return await cloud_page(request, viewer)


@mutation
async def create_key(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    name = str(form.get("name") or "").strip()
    try:
        issued = await ui_of(request).services.apikeys.create(
            email=viewer.principal.email, name=name
        )
    except HangarError as exc:
        return await cloud_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return await cloud_page(request, viewer, issued=issued)


@mutation
async def revoke_key(request: Request, viewer: Viewer) -> Response:
    try:
        await ui_of(request).services.apikeys.revoke(
            path_id(request), user_uuid=viewer.principal.user_uuid
        )
    except HangarError as exc:
        return await cloud_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(ui_of(request).url("/cloud#api-keys"), status_code=303)


@mutation
async def delete_credential(request: Request, viewer: Viewer) -> Response:
    try:
        await ui_of(request).services.registry_auths.remove(
            viewer.principal.user_uuid, path_id(request)
        )
    except HangarError as exc:
        return await cloud_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(ui_of(request).url("/cloud#credentials"), status_code=303)


routes = [
    Route("/cloud", cloud_home, methods=["GET"]),
    Route("/cloud/api-keys", create_key, methods=["POST"]),
    Route("/cloud/api-keys/{id}/revoke", revoke_key, methods=["POST"]),
    Route("/cloud/credentials/{id}/delete", delete_credential, methods=["POST"]),
    *pod_routes,
    *form_routes,
    *edit_routes,
]
