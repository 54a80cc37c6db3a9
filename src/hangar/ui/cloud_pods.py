"""Creating and deleting pods from the browser.

The form carries the seed's fields (image, GPU or CPU, GPU type and a power-of-two count,
vCPU and RAM per card, shared memory, container disk, environment, initialization command)
and answers with the seed's validation messages; the pod is made by the core pod service
with the viewer's principal, as ``POST /v2/pods`` does (the daily cost limit included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.pods.models import DeviceChoice, PodRequest, PodSpec, ResourceKind
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of
from hangar.util.gputypes import gpu_type

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class GpuOffer:
    code: str
    display_name: str
    free: int
    device: DeviceChoice


async def gpu_offers(request: Request) -> list[GpuOffer]:
    offers: dict[str, GpuOffer] = {}
    for group in await ui_of(request).services.accelerators.groups():
        kind = gpu_type(group.model, group.memory_bytes)
        known = offers.get(kind.code)
        free = group.free + (known.free if known else 0)
        device = DeviceChoice(group.model, group.memory_bytes)
        offers[kind.code] = GpuOffer(kind.code, kind.display_name, free, device)
    return sorted(offers.values(), key=lambda o: o.code)


async def _form_page(
    request: Request, viewer: Viewer, *, status_code: int = 200, message: str = ""
) -> Response:
    form = await request.form() if request.method == "POST" else FormData()
    return ui_of(request).render(request, "cloud_pod_new.html", viewer, status_code,
                                 offers=await gpu_offers(request), message=message,
                                 form=form)  # fmt: skip


def _number(form: FormData, name: str, wire: str, top: int) -> int:
    text = str(form.get(name) or "").strip() or "0"
    if not text.isdigit() or int(text) > top:
        raise InvalidRequest(f"{wire}: must be a whole number from 0 to {top}")
    return int(text)


def _env(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        key, _, value = line.partition("=")
        if not ENV_KEY.match(key):
            raise InvalidRequest(f"environmentVars: {key!r} is not a variable name")
        pairs.append((key, value))
    return tuple(pairs)


def _request(form: FormData, offers: list[GpuOffer]) -> PodRequest:
    """The pod the form asks for, or InvalidRequest with the seed's message."""
    image = str(form.get("image") or "").strip()
    if not image or len(image) > 255:
        raise InvalidRequest("image: must be 1 to 255 characters")
    gpu = str(form.get("resource_type") or "GPU") == "GPU"
    code, count = str(form.get("gpu_type") or ""), _number(form, "gpu_count", "gpuCount", 64)
    offer = next((o for o in offers if o.code == code), None)
    if gpu and not code:
        raise InvalidRequest("gpuType is required for a GPU pod")
    if gpu and (count < 1 or count & (count - 1)):
        raise InvalidRequest("gpuCount must be a power of two (1, 2, 4, 8, ...)")
    if gpu and offer is None:
        raise InvalidRequest(f"gpuType: gpu type [{code}] not supported")
    cards = max(count if gpu else 0, 1)
    spec = PodSpec(
        image=image, resource=ResourceKind.GPU if gpu else ResourceKind.CPU,
        gpu_type=code if gpu else "", gpu_count=count if gpu else 0,
        cpu=max(1, _number(form, "vcpu", "minSingleCardVcpu", 256) * cards),
        memory_gb=_number(form, "ram_gb", "minSingleCardRamInGb", 1536) * cards,
        shm_gb=_number(form, "shm_gb", "shmInGb", 10240),
        disk_gb=_number(form, "disk_gb", "containerVolumeInGb", 10240),
        env=_env(str(form.get("env") or "")),
        init_command=str(form.get("init_command") or "")[:8192],
    )  # fmt: skip
    name = str(form.get("name") or "").strip()[:255]
    return PodRequest(name=name, spec=spec, device=offer.device if gpu and offer else None)


@page
async def new_pod(request: Request, viewer: Viewer) -> Response:
    return await _form_page(request, viewer)


@mutation
async def create_pod(request: Request, viewer: Viewer) -> Response:
    services = ui_of(request).services
    try:
        wanted = _request(await request.form(), await gpu_offers(request))
        await services.pods.create(viewer.principal, wanted)
    except HangarError as exc:
        return await _form_page(request, viewer, status_code=status_of(exc), message=str(exc))
    return RedirectResponse(ui_of(request).url("/cloud#pods"), status_code=303)


@mutation
async def delete_pod(request: Request, viewer: Viewer) -> Response:
    pod_id = request.path_params["id"]
    if not str(pod_id).isdigit():
        return ui_of(request).error(request, 404, "No such pod.", viewer)
    await ui_of(request).services.pods.delete(viewer.principal, int(pod_id))
    return RedirectResponse(ui_of(request).url("/cloud#pods"), status_code=303)


pod_routes = [
    Route("/cloud/pods/new", new_pod, methods=["GET"]),
    Route("/cloud/pods", create_pod, methods=["POST"]),
    Route("/cloud/pods/{id}/delete", delete_pod, methods=["POST"]),
]
