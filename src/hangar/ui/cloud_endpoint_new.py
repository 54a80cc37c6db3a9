"""Creating a serverless endpoint from the browser, and its gateway request metrics.

The form carries ``POST /v2/serverless``'s fields (name, mode, image, one resource: region,
GPU type and a power-of-two count or CPU only, workers, container volume, per-card vCPU and
RAM, exposed port, environment, initialization command, webhook, registry credential) and
answers with the API's validation messages; the endpoint is made by the core endpoint
service with the viewer's principal (the daily cost limit included).

``/cloud/endpoints/{id}/metrics`` is the gateway's summary of the endpoint (requests,
errors, retries, in flight, latency percentiles) as JSON, with the samples this server kept
while the page was watched (every 2 s, 30 minutes); the endpoint page polls it and draws
requests per second and latency over time with uPlot. The owner check comes first:
another user's endpoint is "not found" here too.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from hangar.api.gateway.stats import snapshot
from hangar.core.compute.ports import PortProtocol
from hangar.core.endpoints.models import EndpointRequest, EndpointSpec, Placement, ServiceMode
from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.pods.models import DeviceChoice
from hangar.ui.cloud_forms import worded
from hangar.ui.cloud_pods import ENV_KEY, GpuOffer, gpu_offers
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9@._-]{0,19}$")
WEBHOOK = re.compile(r"^https?://\S+$")
WORDS = {"registry_auth_id": "containerRegistryAuthId", "gpu_type": "resources",
         "regions": "resources"}  # fmt: skip


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def _number(form: FormData, name: str, wire: str, low: int, high: int, empty: int) -> int:
    text = _text(form, name)
    if not text:
        return empty
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidRequest(f"{wire}: must be a whole number from {low} to {high}")
    return int(text)


def _env(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        key, _, value = line.partition("=")
        if not ENV_KEY.match(key):
            raise InvalidRequest(f"environmentVars: {key!r} is not a variable name")
        pairs.append((key, value))
    return tuple(pairs)


def _placement(form: FormData, offers: list[GpuOffer]) -> Placement:
    region = _text(form, "region")
    group = "default" if region in ("", "local") else region
    code = _text(form, "gpu_type")
    count = _number(form, "gpu_count", "gpuCount", 0, 64, 0)
    if not code or count == 0:
        return Placement(group, "", 0, None)
    if count & (count - 1):
        raise InvalidRequest("gpuCount must be a power of two (1, 2, 4, 8, ...)")
    offer = next((o for o in offers if o.code == code), None)
    if offer is None:
        raise InvalidRequest(f"resources: gpu type [{code}] not supported")
    device = DeviceChoice(offer.device.model, offer.device.memory_bytes)
    return Placement(group, code, count, device)


def _spec(form: FormData, offers: list[GpuOffer], mode: ServiceMode) -> EndpointSpec:
    image = _text(form, "image")
    if not 1 <= len(image) <= 255:
        raise InvalidRequest("image: must be 1 to 255 characters")
    port_text = _text(form, "port")
    port = _number(form, "port", "expose.port", 1, 65535, 0) if port_text else None
    if mode is ServiceMode.ALB and port is None:
        raise InvalidRequest("expose: an ALB endpoint needs an http port")
    placement = _placement(form, offers)
    cards = max(placement.gpu_count, 1)
    vcpu = _number(form, "vcpu", "minSingleCardVcpu", 0, 256, 0)
    ram = _number(form, "ram_gb", "minSingleCardRamInGb", 0, 1536, 0)
    vram = _number(form, "vram_gb", "minSingleCardVramInGb", 0, 1536, 0)
    registry = _text(form, "image_registry")
    if len(registry) > 255:
        raise InvalidRequest("imageRegistry: at most 255 characters")
    credential = _text(form, "credential")
    return EndpointSpec(
        image=image, placements=(placement,), image_registry=registry,
        registry_auth_id=int(credential) if credential.isdigit() else None,
        disk_gb=_number(form, "disk_gb", "containerVolumeInGb", 20, 10240, 20),
        cpu=max(1, vcpu * cards), memory_gb=ram * cards, env=_env(_text(form, "env")),
        init_command=str(form.get("init_command") or "")[:8192], port=port,
        protocol=PortProtocol.HTTP,
        extras={"minSingleCardVcpu": vcpu, "minSingleCardRamInGb": ram,
                "minSingleCardVramInGb": vram},
    )  # fmt: skip


def endpoint_request(form: FormData, offers: list[GpuOffer]) -> EndpointRequest:
    """The endpoint the form asks for, or InvalidRequest with the API's message."""
    name = _text(form, "name")
    if not NAME.match(name):
        raise InvalidRequest("name: a letter, then up to 19 letters, digits or @._-")
    try:
        mode = ServiceMode(_text(form, "mode").upper())
    except ValueError:
        raise InvalidRequest("serviceMode: expected ALB, QUEUE or CUSTOM") from None
    webhook = _text(form, "webhook") or None
    if webhook is not None and (len(webhook) > 512 or not WEBHOOK.match(webhook)):
        raise InvalidRequest("webhook: an http:// or https:// address")
    workers = _number(form, "workers", "workers", 1, 64, 1)
    return EndpointRequest(name=name, mode=mode, spec=_spec(form, offers, mode),
                           workers=workers, webhook=webhook)  # fmt: skip


async def form_page(
    request: Request,
    viewer: Viewer,
    error: HangarError | None = None,
    *,
    filled: Mapping[str, str] | None = None,
    editing: int | None = None,
) -> Response:
    """The endpoint form: empty, ``filled`` (an endpoint's values, to edit it), or with what
    was sent when it was refused."""
    services = ui_of(request).services
    form = await request.form() if request.method == "POST" else filled or FormData()
    credentials = await services.registry_auths.owned(viewer.principal.user_uuid)
    return ui_of(request).render(
        request, "cloud_endpoint_new.html", viewer, status_of(error) if error else 200,
        message=str(error) if error else "", form=form, offers=await gpu_offers(request),
        credentials=credentials, modes=list(ServiceMode), editing=editing,
    )  # fmt: skip


@page
async def new_endpoint(request: Request, viewer: Viewer) -> Response:
    return await form_page(request, viewer)


@mutation
async def create_endpoint(request: Request, viewer: Viewer) -> Response:
    endpoints = ui_of(request).services.endpoints
    try:
        wanted = endpoint_request(await request.form(), await gpu_offers(request))
        with worded(WORDS):
            made = await endpoints.create(viewer.principal, wanted)
    except HangarError as exc:
        return await form_page(request, viewer, exc)
    return RedirectResponse(ui_of(request).url(f"/cloud/endpoints/{made.id}"), status_code=303)


HISTORY_EVERY_S = 2.0  # one kept sample per endpoint this often, at most
HISTORY_KEEP = 900  # 30 minutes of samples
_history: dict[int, deque[dict[str, Any]]] = {}


def remembered(endpoint_id: int, now: float, sample: dict[str, Any]) -> list[dict[str, Any]]:
    """The endpoint's samples kept while its page was watched (a reload, or a second
    viewer, draws them too), with ``sample`` added when the last is old enough."""
    kept = _history.setdefault(endpoint_id, deque(maxlen=HISTORY_KEEP))
    if not kept or now - kept[-1]["t"] >= HISTORY_EVERY_S:
        kept.append({"t": round(now, 3), **sample})
    return list(kept)


@page
async def endpoint_metrics(request: Request, viewer: Viewer) -> Response:
    """The gateway's summary now and the samples kept before it (``history``)."""
    raw = str(request.path_params["id"])
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidRequest("expected a numeric id")
    endpoint = await ui_of(request).services.endpoints.get(viewer.principal, int(raw))
    now = snapshot(endpoint.id)
    history = remembered(endpoint.id, time.time(), now)
    return JSONResponse({**now, "history": history}, headers={"Cache-Control": "no-store"})


new_endpoint_routes = [
    Route("/cloud/endpoints/new", new_endpoint, methods=["GET"]),
    Route("/cloud/endpoints", create_endpoint, methods=["POST"]),
    Route("/cloud/endpoints/{id}/metrics", endpoint_metrics, methods=["GET"]),
]
