"""Creating VMs, volumes and registry credentials from the browser, and ending VMs and
volumes.

Each form carries the GPU-cloud seed's fields and answers with its validation messages
(the field named as the cloud API names it); the resource is made by the same core service
as ``POST /v2/vms``, ``/v2/volumes`` and ``/v2/container-registry-auths``, with the viewer's
principal and, for paid resources, the daily cost limit checked first. A refused form comes
back filled in, with the message on top.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.billing.models import Metered
from hangar.core.errors import HangarError, InvalidRequest, InvalidValue
from hangar.core.images.auths.models import RegistryKind
from hangar.core.vms.models import VmRequest
from hangar.core.volumes.models import MAX_SIZE_GB, MIN_SIZE_GB, StorageType, VendorType
from hangar.ui.context import Viewer, mutation, page, status_of, ui_of
from hangar.util.gputypes import gpu_type, vm_type_id

CREDENTIAL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9@._-]{0,19}$")
MOUNT_PATH = re.compile(r"^/[^\x00-\x1f\x7f]{0,254}$")
MAX_VOLUMES = 1000
MAX_ID = 2**31 - 1  # the objects' INTEGER id columns
VOLUME_WORDS = {"size": "sizeInGb", "storage type": "storageType",
                "vendor type": "vendorVolumeType"}  # fmt: skip
VM_WORDS = {"volumes": "volumeMountPaths", "gpu_count": "vmTypeId"}


@dataclass(frozen=True)
class VmOffer:
    """One VM type: a GPU type in a region (scaling group), with its free cards."""

    vm_type_id: int
    code: str
    display_name: str
    region: str
    scaling_group: str
    model: str
    memory_bytes: int
    free: int


async def vm_offers(request: Request) -> list[VmOffer]:
    offers: dict[int, VmOffer] = {}
    for group in await ui_of(request).services.accelerators.groups():
        kind = gpu_type(group.model, group.memory_bytes)
        region = "local" if group.scaling_group == "default" else group.scaling_group
        type_id = vm_type_id(kind.code, region)
        known = offers.get(type_id)
        free = group.free + (known.free if known else 0)
        offers[type_id] = VmOffer(type_id, kind.code, kind.display_name, region,
                                  group.scaling_group, group.model, group.memory_bytes,
                                  free)  # fmt: skip
    return sorted(offers.values(), key=lambda o: (o.code, o.region))


@contextmanager
def worded(names: dict[str, str]) -> Iterator[None]:
    """The core's refusal of a value, naming the field as the cloud API names it."""
    try:
        yield
    except InvalidValue as exc:
        raise InvalidRequest(f"{names.get(exc.field, exc.field)}: {exc.reason}") from None


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def _name(form: FormData) -> str:
    name = _text(form, "name")
    if not 1 <= len(name) <= 255 or re.search(r"[\x00-\x1f\x7f]", name):
        raise InvalidRequest("name: must be 1 to 255 characters, no control characters")
    return name


# Volumes -------------------------------------------------------------------------------


def _size(form: FormData, kind: StorageType) -> int | None:
    text = _text(form, "size_gb")
    if not text and kind.is_object_storage:
        return None
    if not text.isdigit() or not MIN_SIZE_GB <= int(text) <= MAX_SIZE_GB:
        raise InvalidRequest(f"sizeInGb: required for {kind.value} volumes, a whole number "
                             f"from {MIN_SIZE_GB} to {MAX_SIZE_GB}")  # fmt: skip
    return int(text)


def _storage(form: FormData) -> tuple[StorageType, VendorType | None]:
    try:
        kind = StorageType(_text(form, "storage_type"))
    except ValueError:
        raise InvalidRequest("storageType: one of S3, R2, CEPH, VENDOR") from None
    vendor_text = _text(form, "vendor_type")
    if kind is not StorageType.VENDOR:
        return kind, None
    try:
        return kind, VendorType(vendor_text)
    except ValueError:
        why = "vendorVolumeType: required for VENDOR volumes (NVMe or HDD)"
        raise InvalidRequest(why) from None


@page
async def new_volume(request: Request, viewer: Viewer) -> Response:
    return await _form(request, viewer, "cloud_volume_new.html")


@mutation
async def create_volume(request: Request, viewer: Viewer) -> Response:
    services, form = ui_of(request).services, await request.form()
    try:
        name, (kind, vendor) = _name(form), _storage(form)
        size = _size(form, kind)
        await services.billing.admit(viewer.principal, Metered.VOLUME)
        with worded(VOLUME_WORDS):
            await services.volumes.create(viewer.principal, name=name, storage_type=kind,
                                          size_gb=size, vendor_type=vendor)  # fmt: skip
    except HangarError as exc:
        return await _form(request, viewer, "cloud_volume_new.html", exc)
    return RedirectResponse(ui_of(request).url("/cloud#volumes"), status_code=303)


@mutation
async def delete_volume(request: Request, viewer: Viewer) -> Response:
    volume_id = path_id(request)
    await ui_of(request).services.volumes.delete(viewer.principal, volume_id)
    return RedirectResponse(ui_of(request).url("/cloud#volumes"), status_code=303)


# VMs -----------------------------------------------------------------------------------


def _mounts(form: FormData) -> dict[int, str | None]:
    """``mount_<volume id>`` checkboxes with their ``path_<volume id>`` paths."""
    mounts: dict[int, str | None] = {}
    for key in form:
        if not key.startswith("mount_"):
            continue
        volume = key.removeprefix("mount_")
        if not volume.isdigit() or len(volume) > 18:
            raise InvalidRequest(f"volumeMountPaths: {volume!r} is not a volume id")
        path = _text(form, f"path_{volume}")
        if path and not MOUNT_PATH.match(path):
            raise InvalidRequest(f"volumeMountPaths: {path!r} is not an absolute path")
        mounts[int(volume)] = path or None
    return mounts


def _vm_request(form: FormData, offers: list[VmOffer]) -> VmRequest:
    name, raw_type = _name(form), _text(form, "vm_type")
    offer = next((o for o in offers if str(o.vm_type_id) == raw_type), None)
    if offer is None:
        raise InvalidRequest("vmTypeId: choose a VM type (see GET /v2/vms/types)")
    return VmRequest(
        name=name, vm_type_id=offer.vm_type_id, gpu_type=offer.code, model=offer.model,
        memory_bytes=offer.memory_bytes, scaling_group=offer.scaling_group,
        is_spot=_text(form, "is_spot") == "on", mounts=_mounts(form),
    )  # fmt: skip


@page
async def new_vm(request: Request, viewer: Viewer) -> Response:
    return await _form(request, viewer, "cloud_vm_new.html")


@mutation
async def create_vm(request: Request, viewer: Viewer) -> Response:
    services = ui_of(request).services
    try:
        wanted = _vm_request(await request.form(), await vm_offers(request))
        await services.billing.admit(viewer.principal, Metered.VM)
        with worded(VM_WORDS):
            await services.vms.create(viewer.principal, wanted)
    except HangarError as exc:
        return await _form(request, viewer, "cloud_vm_new.html", exc)
    return RedirectResponse(ui_of(request).url("/cloud#vms"), status_code=303)


@mutation
async def terminate_vm(request: Request, viewer: Viewer) -> Response:
    vms, vm_id = ui_of(request).services.vms, path_id(request)
    await vms.get(viewer.principal, vm_id)  # another user's: "not found", as on the API
    await vms.terminate(viewer.principal, vm_id)
    return RedirectResponse(ui_of(request).url("/cloud#vms"), status_code=303)


# Registry credentials ------------------------------------------------------------------


@page
async def new_credential(request: Request, viewer: Viewer) -> Response:
    return await _form(request, viewer, "cloud_credential_new.html")


@mutation
async def create_credential(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    try:
        name, username, password = (
            _text(form, "name"),
            _text(form, "username"),
            str(form.get("password") or ""),
        )
        if not CREDENTIAL_NAME.match(name):
            raise InvalidRequest("name: a letter, then up to 19 letters, digits or @._-")
        if not 1 <= len(username) <= 255 or not 1 <= len(password) <= 255:
            raise InvalidRequest("username and password: 1 to 255 characters each")
        try:
            kind = RegistryKind(_text(form, "type") or "PRIVATE")
        except ValueError:
            raise InvalidRequest("type: one of " + ", ".join(RegistryKind)) from None
        await ui_of(request).services.registry_auths.create(
            viewer.principal.user_uuid, name=name, kind=kind, username=username,
            password=password,
        )  # fmt: skip
    except HangarError as exc:
        return await _form(request, viewer, "cloud_credential_new.html", exc)
    return RedirectResponse(ui_of(request).url("/cloud#credentials"), status_code=303)


# Shared --------------------------------------------------------------------------------


def path_id(request: Request, name: str = "id") -> int:
    """A numeric path parameter, as the cloud API reads one: an id past the INTEGER id
    columns names nothing and reads as 0 (PostgreSQL would refuse the value itself)."""
    raw = str(request.path_params[name])
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidRequest("expected a numeric id")
    return int(raw) if int(raw) <= MAX_ID else 0


async def _form(
    request: Request, viewer: Viewer, template: str, error: HangarError | None = None
) -> Response:
    """The form page, filled in with what was sent when it was refused."""
    services = ui_of(request).services
    form = await request.form() if request.method == "POST" else FormData()
    volumes = []
    if template == "cloud_vm_new.html":
        volumes = [
            v.volume for v in (await services.volumes.page(viewer.principal, limit=MAX_VOLUMES))[0]
        ]
    return ui_of(request).render(
        request, template, viewer, status_of(error) if error else 200,
        message=str(error) if error else "", form=form, offers=await vm_offers(request),
        volumes=volumes, storage_types=list(StorageType), vendor_types=list(VendorType),
        registry_kinds=list(RegistryKind),
    )  # fmt: skip


form_routes = [
    Route("/cloud/volumes/new", new_volume, methods=["GET"]),
    Route("/cloud/volumes", create_volume, methods=["POST"]),
    Route("/cloud/volumes/{id}/delete", delete_volume, methods=["POST"]),
    Route("/cloud/vms/new", new_vm, methods=["GET"]),
    Route("/cloud/vms", create_vm, methods=["POST"]),
    Route("/cloud/vms/{id}/terminate", terminate_vm, methods=["POST"]),
    Route("/cloud/credentials/new", new_credential, methods=["GET"]),
    Route("/cloud/credentials", create_credential, methods=["POST"]),
]
