"""Changing a serverless endpoint from the browser, as ``PATCH /v2/serverless/{id}`` does:
the create form filled with the endpoint's values (its mode stays), and on save a new spec
(a rolling update of the workers when it differs), name, worker count and webhook. What the
form does not show (autoscaling, health check path, the other per-card extras) is kept.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.endpoints.models import Endpoint, EndpointUpdate
from hangar.core.errors import HangarError
from hangar.ui.cloud_endpoint_new import WORDS, endpoint_request, form_page
from hangar.ui.cloud_forms import path_id, worded
from hangar.ui.cloud_pods import gpu_offers
from hangar.ui.context import Viewer, mutation, page, ui_of


def _id(request: Request) -> int:
    return path_id(request)


def filled(endpoint: Endpoint) -> dict[str, str]:
    """The endpoint's values as the form's fields."""
    spec = endpoint.spec
    place = spec.placements[0] if spec.placements else None
    extras = spec.extras

    def extra(key: str) -> str:
        return str(extras.get(key) or "")

    region = place.scaling_group if place else ""
    return {
        "name": endpoint.name, "mode": endpoint.mode.value, "image": spec.image,
        "image_registry": spec.image_registry, "region": "local" if region == "default"
        else region, "gpu_type": place.gpu_type if place else "",
        "gpu_count": str(place.gpu_count if place else 0), "workers": str(endpoint.workers),
        "vcpu": extra("minSingleCardVcpu"), "ram_gb": extra("minSingleCardRamInGb"),
        "vram_gb": extra("minSingleCardVramInGb"), "disk_gb": str(spec.disk_gb or 20),
        "port": str(spec.port or ""), "env": "\n".join(f"{k}={v}" for k, v in spec.env),
        "init_command": spec.init_command, "webhook": endpoint.webhook or "",
        "credential": str(spec.registry_auth_id or ""),
    }  # fmt: skip


@page
async def edit_endpoint(request: Request, viewer: Viewer) -> Response:
    endpoint = await ui_of(request).services.endpoints.get(viewer.principal, _id(request))
    return await form_page(request, viewer, filled=filled(endpoint), editing=endpoint.id)


@mutation
async def save_endpoint(request: Request, viewer: Viewer) -> Response:
    endpoints, me, endpoint_id = ui_of(request).services.endpoints, viewer.principal, _id(request)
    old = await endpoints.get(me, endpoint_id)  # another user's: "not found" first
    form = await request.form()
    try:
        wanted = endpoint_request(form, await gpu_offers(request))
        spec = dataclasses.replace(
            wanted.spec, scaling=old.spec.scaling, health_path=old.spec.health_path,
            protocol=old.spec.protocol, extras={**old.spec.extras, **wanted.spec.extras},
        )  # fmt: skip
        change = EndpointUpdate(
            name=wanted.name,
            spec=spec,
            workers=wanted.workers,
            webhook=wanted.webhook,
            clear_webhook=wanted.webhook is None,
        )
        with worded(WORDS):
            await endpoints.update(me, endpoint_id, change)
    except HangarError as exc:
        return await form_page(request, viewer, exc, editing=endpoint_id)
    url = ui_of(request).url(f"/cloud/endpoints/{endpoint_id}")
    return RedirectResponse(url, status_code=303)


edit_routes = [
    Route("/cloud/endpoints/{id}/edit", edit_endpoint, methods=["GET"]),
    Route("/cloud/endpoints/{id}/edit", save_endpoint, methods=["POST"]),
]
