"""Volumes, ``/v2/volumes`` (S1-S6, spec §2.7, §3.9): a user's own; S3 and R2 on the
installation's S3 host with no fixed size, CEPH and VENDOR on a file-system host with a
quota of ``sizeInGb``. Each is the owner's vfolder ``volume-<id>`` (``vfolderName``), so
the Backend.AI face reaches the same files. Another user's id answers 10007 like an unknown
one; delete and resize of a mounted volume answer 12001.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from hangar.api.cloud.pagination import page_of, page_request
from hangar.api.cloud.registry import Call, WireModel, route
from hangar.core.billing.models import Metered
from hangar.core.errors import InvalidRequest, InvalidValue
from hangar.core.volumes.models import MAX_SIZE_GB, MIN_SIZE_GB, StorageType, VendorType
from hangar.core.volumes.models import VolumeView as View

Name = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Region = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
]
Size = Annotated[int, Field(ge=MIN_SIZE_GB, le=MAX_SIZE_GB, strict=True)]


class CreateVolume(WireModel):
    name: Name
    storage_type: StorageType
    region: Region | None = None
    size_in_gb: Size | None = None
    vendor_volume_type: VendorType | None = None


class Rename(WireModel):
    name: Name


class Resize(WireModel):
    size_in_gb: Size


def _bad(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {why}", data={field: why})


WIRE_NAMES = {"size": "sizeInGb", "storage type": "storageType",
              "vendor type": "vendorVolumeType"}  # fmt: skip


@contextmanager
def _worded() -> Iterator[None]:
    """The core's refusals of a value, naming the field as this face calls it."""
    try:
        yield
    except InvalidValue as exc:
        raise _bad(WIRE_NAMES.get(exc.field, exc.field), exc.reason) from None


def _check(body: CreateVolume) -> None:
    """The per-type requirements of §3.9."""
    kind = body.storage_type
    if not kind.is_object_storage and body.size_in_gb is None:
        raise _bad("sizeInGb", f"required for {kind.value} volumes ({MIN_SIZE_GB}-{MAX_SIZE_GB})")
    if kind is StorageType.VENDOR and body.vendor_volume_type is None:
        raise _bad("vendorVolumeType", "required for VENDOR volumes (NVMe or HDD)")


def wire(view: View, cost: Decimal = Decimal(0)) -> dict[str, Any]:
    volume = view.volume
    return {
        "id": volume.id,
        "name": volume.name,
        "sizeInGb": volume.size_gb,
        "region": volume.region,
        "storageType": volume.storage_type.value,
        "status": volume.status.value,
        "vendorVolumeType": volume.vendor_type.value if volume.vendor_type else None,
        "mountCount": view.mount_count,
        "cost": float(cost),
        "createdAt": int(volume.created_at.timestamp() * 1000),
        "sizeBytes": str(view.used_bytes),
        "vfolderName": volume.folder_name,
    }


async def _rendered(call: Call, views: list[View]) -> list[dict[str, Any]]:
    costs = await call.services.billing.cost(Metered.VOLUME, [v.volume.id for v in views])
    return [wire(v, costs.get(v.volume.id, Decimal(0))) for v in views]


BASE = "/v2/volumes"


@route("POST", BASE)
async def create_volume(call: Call) -> dict[str, Any]:
    body = await call.body(CreateVolume)
    _check(body)
    await call.services.billing.admit(call.principal, Metered.VOLUME)
    with _worded():
        created = await call.services.volumes.create(
            call.principal,
            name=body.name,
            storage_type=body.storage_type,
            region=body.region,
            size_gb=body.size_in_gb,
            vendor_type=body.vendor_volume_type,
        )
    return (await _rendered(call, [created]))[0]


def _storage_type(raw: str | None) -> StorageType | None:
    if raw is None or not raw.strip():
        return None
    try:
        return StorageType(raw.strip().upper())
    except ValueError:
        raise _bad("storageType", "one of S3, R2, CEPH, VENDOR") from None


@route("GET", BASE)
async def list_volumes(call: Call) -> dict[str, Any]:
    want = page_request(call.query)
    region = (call.query.get("region") or "").strip() or None
    views, total = await call.services.volumes.page(
        call.principal,
        storage_type=_storage_type(call.query.get("storageType")),
        region=region,
        offset=want.offset,
        limit=want.limit,
    )
    return page_of(await _rendered(call, views), total, want)


@route("GET", BASE + "/{id}")
async def get_volume(call: Call) -> dict[str, Any]:
    view = await call.services.volumes.view(call.principal, call.path_id())
    return (await _rendered(call, [view]))[0]


@route("DELETE", BASE + "/{id}")
async def delete_volume(call: Call) -> bool:
    await call.services.volumes.delete(call.principal, call.path_id())
    return True


@route("POST", BASE + "/{id}/name")
async def rename_volume(call: Call) -> dict[str, Any]:
    volume_id = call.path_id()
    body = await call.body(Rename)
    view = await call.services.volumes.rename(call.principal, volume_id, body.name)
    return (await _rendered(call, [view]))[0]


@route("POST", BASE + "/{id}/resize")
async def resize_volume(call: Call) -> None:
    volume_id = call.path_id()
    body = await call.body(Resize)
    with _worded():
        await call.services.volumes.resize(call.principal, volume_id, body.size_in_gb)
