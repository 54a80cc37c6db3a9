"""Virtual machines, ``/v2/vms`` (V1-V5; V6, the types, is in catalogue.py and registered
first): a VM is a compute session of its owner (``vm-<id>``, visible to ``backend.ai ps``)
with sshd, on one GPU of the type and region its ``vmTypeId`` names. ``ipAddress`` is the
address of this server (the proxy users connect through), ``sshTemplate`` the command that
reaches the VM's sshd through it. Another user's id answers 11000 like an unknown one, except
terminate, which answers 11002 (spec §4 item 19)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from hangar.api.cloud.errors import NO_TERMINATE_PERMISSION, VM_STATUS_INVALID, CloudError
from hangar.api.cloud.pagination import page_request, paged
from hangar.api.cloud.registry import Call, WireModel, route
from hangar.api.cloud.vmtypes import VmType, vm_types_of
from hangar.core.billing.models import Metered
from hangar.core.errors import Conflict, Forbidden, InvalidRequest, InvalidValue
from hangar.core.vms.models import Vm, VmRequest, VmStatus

Name = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
]
WIRE_NAMES = {"volumes": "volumeMountPaths", "gpu_count": "vmTypeId"}
MOUNT_PATH = re.compile(r"^/[^\x00-\x1f\x7f]{0,254}$")


class CreateVm(WireModel):
    vm_type_id: Annotated[int, Field(ge=0, strict=True)]
    region: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Name
    is_spot: Annotated[int, Field(ge=0, le=1, strict=True)] = 0
    volume_mount_paths: dict[str, str] | None = None


class RenameVm(WireModel):
    name: Name


def _bad(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {why}", data={field: why})


def _mounts(paths: dict[str, str] | None) -> dict[int, str | None]:
    mounts: dict[int, str | None] = {}
    for key, path in (paths or {}).items():
        if not key.isdigit() or len(key) > 18:
            raise _bad("volumeMountPaths", f"{key!r} is not a volume id")
        if not MOUNT_PATH.match(path):
            raise _bad("volumeMountPaths", f"{path!r} is not an absolute path")
        mounts[int(key)] = path
    return mounts


def _type_of(types: list[VmType], vm_type_id: int, region: str) -> VmType:
    offered = [t for t in types if t.vm_type_id == vm_type_id]
    if not offered:
        raise _bad("vmTypeId", f"no VM type {vm_type_id} (see GET /v2/vms/types)")
    for found in offered:
        if found.region == region:
            return found
    raise _bad("region", f"VM type {vm_type_id} is offered in {offered[0].region}, not {region}")


def _described(types: list[VmType], code: str) -> tuple[str, int]:
    for known in types:
        if known.code == code:
            return known.display_name, known.vram_gb
    vram = re.search(r"_(\d+)G$", code)
    return code, int(vram[1]) if vram else 0


def wire(call: Call, vm: Vm, types: list[VmType], cost: Decimal) -> dict[str, Any]:
    display, vram = _described(types, vm.gpu_type)
    running = vm.status is VmStatus.RUNNING
    region = next((t.region for t in types if t.scaling_group == vm.scaling_group), None)
    return {
        "id": vm.id,
        "name": vm.name,
        "status": vm.status.value,
        "gpuType": vm.gpu_type,
        "gpuDisplayName": display,
        "ipAddress": (call.request.url.hostname or "") if running else "",
        "cpuCores": vm.cpu_cores,
        "memoryInGb": str(vm.memory_gb),
        "gpuCount": vm.gpu_count,
        "gpuMemoryInGb": str(vram),
        "region": region or ("local" if vm.scaling_group == "default" else vm.scaling_group),
        "storageInGb": str(vm.disk_gb),
        "sshTemplate": ssh_template(vm) if running else "",
        "createdAt": vm.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "terminatedAt": vm.terminated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if vm.terminated_at else None,
        "isSpot": int(vm.is_spot),
        "vmTypeId": vm.vm_type_id,
        "cost": float(cost),
    }  # fmt: skip


def ssh_template(vm: Vm) -> str:
    """Hangar's app proxy binds the VM's sshd to a local port; ssh logs in there as ``work``
    with the user's key (their ``.ssh`` folder's authorized_keys) or the VM's own
    (``backend.ai session download vm-<id> id_container``)."""
    return f"hangar app {vm.session_name} sshd -b 10022 & ssh -p 10022 work@127.0.0.1"


async def _rendered(call: Call, vms: list[Vm]) -> list[dict[str, Any]]:
    types = vm_types_of(await call.services.accelerators.groups())
    costs = await call.services.billing.cost(Metered.VM, [v.id for v in vms])
    return [wire(call, v, types, costs.get(v.id, Decimal(0))) for v in vms]


BASE = "/v2/vms"


@route("POST", BASE)
async def create_vm(call: Call) -> dict[str, Any]:
    body = await call.body(CreateVm)
    mounts = _mounts(body.volume_mount_paths)
    chosen = _type_of(vm_types_of(await call.services.accelerators.groups()),
                      body.vm_type_id, body.region)  # fmt: skip
    await call.services.billing.admit(call.principal, Metered.VM)
    request = VmRequest(
        name=body.name, vm_type_id=body.vm_type_id, gpu_type=chosen.code, model=chosen.model,
        memory_bytes=chosen.memory_bytes, scaling_group=chosen.scaling_group,
        is_spot=bool(body.is_spot), mounts=mounts,
    )  # fmt: skip
    try:
        created = await call.services.vms.create(call.principal, request)
    except InvalidValue as exc:  # named as this face calls the field
        raise _bad(WIRE_NAMES.get(exc.field, exc.field), exc.reason) from None
    return (await _rendered(call, [created]))[0]


def _status(raw: str | None) -> VmStatus | None:
    if raw is None or not raw.strip():
        return None
    try:
        return VmStatus(raw.strip().lower())
    except ValueError:
        raise _bad("status", "one of " + ", ".join(s.value for s in VmStatus)) from None


@route("GET", BASE)
async def list_vms(call: Call) -> dict[str, Any]:
    want = page_request(call.query)
    found = await call.services.vms.owned(call.principal, _status(call.query.get("status")))
    chosen = found[want.offset : want.offset + want.size]
    page = paged(found, want)
    page["items"] = await _rendered(call, chosen)
    return page


@route("GET", BASE + "/{id}")
async def get_vm(call: Call) -> dict[str, Any]:
    return (await _rendered(call, [await call.services.vms.get(call.principal, call.path_id())]))[0]


@route("PATCH", BASE + "/{id}")
async def rename_vm(call: Call) -> dict[str, Any]:
    vm_id = call.path_id()
    body = await call.body(RenameVm)
    renamed = await call.services.vms.rename(call.principal, vm_id, body.name)
    return (await _rendered(call, [renamed]))[0]


@route("DELETE", BASE + "/{id}")
async def terminate_vm(call: Call) -> bool:
    try:
        await call.services.vms.terminate(call.principal, call.path_id())
    except Forbidden as exc:
        raise CloudError(NO_TERMINATE_PERMISSION, exc.message) from None
    except Conflict as exc:
        raise CloudError(VM_STATUS_INVALID, exc.message) from None
    return True
