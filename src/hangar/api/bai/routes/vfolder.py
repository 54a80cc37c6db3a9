"""``/folders``: virtual folders, hosts, sharing and invitations (spec §3.4)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response

from hangar.api.bai.auth import superadmin, user
from hangar.api.bai.params import Params, read_params
from hangar.api.common.context import services_of
from hangar.api.common.routing import Router, no_content
from hangar.core.errors import InvalidRequest, NotSupported
from hangar.core.storage.models import Access, Invitation, VFolder
from hangar.core.storage.plane import StoragePlane
from hangar.core.storage.service import HostList
from hangar.util import sizes

router = Router(prefix="/folders")

MIB = 1 << 20


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def parse_size(value: object) -> int:
    """A binary size (``"10g"``, ``"512m"``, ``1024``) in bytes. Raises InvalidRequest."""
    if value is None or value == "":
        return 0
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    try:
        return sizes.parse_size(str(value))
    except ValueError:
        message = f"Invalid size {value!r}: a number with an optional k/m/g/t suffix."
        raise InvalidRequest(message) from None


def _stamp(value: datetime | None) -> str | None:
    return str(value) if value is not None else None


def _hex(vfid: uuid.UUID) -> str:
    return vfid.hex


def _storage(request: Request) -> StoragePlane:
    return services_of(request).storage


def _max_size(folder: VFolder) -> int | None:
    return folder.quota_bytes // MIB if folder.quota_bytes else None


def folder_json(folder: VFolder) -> dict[str, Any]:
    return {
        "id": _hex(folder.id),
        "name": folder.name,
        "host": folder.host,
        "usage_mode": folder.usage_mode.value,
        "permission": folder.permission.value,
        "max_size": _max_size(folder),
        "creator": folder.creator,
        "ownership_type": folder.ownership_type.value,
        "user": str(folder.user_uuid) if folder.user_uuid else None,
        "group": str(folder.group_id) if folder.group_id else None,
        "cloneable": folder.cloneable,
    }


@lru_cache(maxsize=4096)
def _text(value: uuid.UUID | datetime) -> str:
    """``str()`` of a UUID or datetime; listed again and again, so kept (both immutable)."""
    return str(value)


def access_json(access: Access) -> dict[str, Any]:
    """A folder as the caller sees it (``GET /folders``, the busiest read: built in one go,
    enums are ``StrEnum``s and encode as their values)."""
    folder = access.folder
    return {
        "id": folder.id.hex,
        "name": folder.name,
        "host": folder.host,
        "usage_mode": folder.usage_mode,
        "permission": access.permission,
        "max_size": folder.quota_bytes // MIB if folder.quota_bytes else None,
        "creator": folder.creator,
        "ownership_type": folder.ownership_type,
        "user": _text(folder.user_uuid) if folder.user_uuid else None,
        "group": _text(folder.group_id) if folder.group_id else None,
        "cloneable": folder.cloneable,
        "created_at": _text(folder.created_at) if folder.created_at is not None else None,
        "is_owner": access.is_owner,
        "user_email": access.user_email,
        "group_name": access.group_name,
        "type": folder.ownership_type,
        "max_files": 0,
    }


def invitation_json(inv: Invitation) -> dict[str, Any]:
    return {
        "id": str(inv.id),
        "inviter": inv.inviter,
        "invitee": inv.invitee,
        "perm": inv.permission.value,
        "state": inv.state.value,
        "created_at": _stamp(inv.created_at),
        "modified_at": _stamp(inv.modified_at),
        "vfolder_id": str(inv.vfolder_id),
        "vfolder_name": inv.vfolder_name,
    }


def hosts_json(hosts: HostList) -> dict[str, Any]:
    body: dict[str, Any] = {"default": hosts.default, "allowed": hosts.allowed}
    if hosts.volumes:
        body["volume_info"] = {
            name: {"backend": info.backend, "capabilities": list(info.capabilities)}
            for name, info in hosts.volumes.items()
        }
    return body


# Requests ------------------------------------------------------------------------------


class CreateParams(Params):
    name: str
    host: str | None = Field(None, validation_alias=_alias("host", "folder_host"))
    unmanaged_path: str | None = None
    group: str | None = Field(None, validation_alias=_alias("group", "group_id"))
    usage_mode: str | None = "general"
    permission: str | None = "rw"
    quota: str | int | None = "0"
    cloneable: bool = False


class ListParams(Params):
    all: bool = False
    group_id: str | None = None
    owner_user_email: str | None = None


class IdParams(Params):
    id: str

    @field_validator("id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("a folder id (UUID, with or without dashes)") from None


class RenameParams(Params):
    new_name: str


class OptionsParams(Params):
    permission: str | None = None
    cloneable: bool | None = None


class InviteParams(Params):
    perm: str | None = Field("rw", validation_alias=_alias("perm", "permission"))
    user_ids: list[str] = Field(validation_alias=_alias("user_ids", "emails", "userIDs"))


class ShareParams(Params):
    permission: str | None = Field("rw", validation_alias=_alias("permission", "perm"))
    emails: list[str]


class UnshareParams(Params):
    emails: list[str]


class InvitationParams(Params):
    inv_id: str = Field(validation_alias=_alias("inv_id", "invitation_id", "invId"))


class InvitationUpdateParams(Params):
    perm: str = Field(validation_alias=_alias("perm", "permission"))


class CloneParams(Params):
    target_name: str
    target_host: str | None = None
    usage_mode: str | None = "general"
    permission: str | None = "rw"
    cloneable: bool = False


class HostParams(Params):
    folder_host: str = Field(validation_alias=_alias("folder_host", "host"))


# Hosts and administration (before /{name}) ------------------------------------------------


@router.get("/_/hosts")
async def list_hosts(request: Request) -> Any:
    return hosts_json(await _storage(request).service.list_hosts(user(request)))


@router.get("/_/all_hosts")
async def list_all_hosts(request: Request) -> Any:
    superadmin(request)
    return hosts_json(await _storage(request).service.list_all_hosts())


router.get("/_/all-hosts")(list_all_hosts)


@router.get("/_/allowed_types")
async def list_allowed_types(request: Request) -> Any:
    user(request)
    return ["user", "group"]


router.get("/_/allowed-types")(list_allowed_types)


@router.get("/_/perf-metric")
async def perf_metric(request: Request) -> Any:
    superadmin(request)
    params = await read_params(request, HostParams)
    metric = await _storage(request).service.perf_metric(params.folder_host)
    return {"metric": asdict(metric)}


@router.get("/_/fstab")
async def get_fstab(request: Request) -> Any:
    superadmin(request)
    return {
        "content": "# Hangar storage hosts are configured in the server settings "
        "(storage_hosts), not in fstab.\n",
        "node": "manager",
        "node_id": "manager",
    }


def _mounts_json(request: Request, message: str) -> dict[str, Any]:
    storage = _storage(request).service
    mounts = [f"{name} {storage.hosts.get(name).kind}" for name in storage.hosts.names()]
    entry = {"success": True, "mounts": mounts, "message": message}
    return {"manager": entry, "storage-proxy": entry, "agents": {}}


@router.get("/_/mounts")
async def list_mounts(request: Request) -> Any:
    superadmin(request)
    return _mounts_json(request, "")


@router.post("/_/mounts")
async def mount_host(request: Request) -> Any:
    superadmin(request)
    raise NotSupported(
        "Hangar does not mount file systems at run time: add a storage host to the server "
        "settings (storage_hosts, a local directory or an S3 bucket) and restart the server."
    )


@router.delete("/_/mounts")
async def umount_host(request: Request) -> Any:
    superadmin(request)
    raise NotSupported(
        "Hangar does not unmount file systems at run time: remove the storage host from the "
        "server settings (storage_hosts) and restart the server."
    )


# Invitations (before /{name}) -------------------------------------------------------------


@router.get("/invitations/list")
async def invitations(request: Request) -> Any:
    found = await _storage(request).invitations.received(user(request))
    return {"invitations": [invitation_json(i) for i in found]}


@router.get("/invitations/list-sent")
async def invitations_sent(request: Request) -> Any:
    found = await _storage(request).invitations.sent(user(request))
    return {"invitations": [invitation_json(i) for i in found]}


router.get("/invitations/list_sent")(invitations_sent)


@router.post("/invitations/accept")
async def accept_invitation(request: Request) -> Any:
    params = await read_params(request, InvitationParams)
    await _storage(request).invitations.accept(user(request), params.inv_id)
    return {}


@router.delete("/invitations/delete")
async def delete_invitation(request: Request) -> Any:
    params = await read_params(request, InvitationParams)
    await _storage(request).invitations.delete(user(request), params.inv_id)
    return {}


@router.post("/invitations/update/{inv_id}")
async def update_invitation(request: Request) -> Any:
    params = await read_params(request, InvitationUpdateParams)
    inv_id = request.path_params["inv_id"]
    await _storage(request).invitations.update(user(request), inv_id, params.perm)
    return {"msg": f"vfolder invitation updated: {inv_id}."}


# Folders -------------------------------------------------------------------------------


@router.post("", status_code=201)
async def create(request: Request) -> Any:
    caller = user(request)
    params = await read_params(request, CreateParams)
    folder = await _storage(request).service.create(
        caller,
        name=params.name,
        host=params.host,
        group=params.group,
        usage_mode=params.usage_mode,
        permission=params.permission,
        quota_bytes=parse_size(params.quota),
        cloneable=params.cloneable,
        unmanaged_path=params.unmanaged_path,
    )
    return folder_json(folder)


@router.get("")
async def list_folders(request: Request) -> Any:
    caller = user(request)
    params = await read_params(request, ListParams)
    if params.all:
        raise InvalidRequest("Listing all folders is deprecated; use GraphQL vfolder_list.")
    found = await _storage(request).service.accessible(caller)
    if params.group_id:
        found = [a for a in found if str(a.folder.group_id) == params.group_id]
    return [access_json(a) for a in found]


@router.delete("")
async def delete_by_id(request: Request) -> Response:
    caller = user(request)
    params = await read_params(request, IdParams)
    await _storage(request).service.delete_by_id(caller, uuid.UUID(params.id))
    return no_content()


@router.get("/{name}")
async def info(request: Request) -> Any:
    access = await _storage(request).service.get(user(request), request.path_params["name"])
    usage = await _storage(request).service.usage(access.folder)
    folder = access.folder
    return {
        **access_json(access),
        "numFiles": usage.file_count,
        "num_files": usage.file_count,
        "used_bytes": usage.used_bytes,
        "over_quota": _storage(request).service.is_over_quota(folder, usage),
        "created": _stamp(folder.created_at),
        "last_used": _stamp(folder.last_used),
    }


@router.delete("/{name}")
async def delete(request: Request) -> Response:
    await _storage(request).service.delete(user(request), request.path_params["name"])
    return no_content()


@router.post("/{name}/rename", status_code=201)
async def rename(request: Request) -> Response:
    params = await read_params(request, RenameParams)
    await _storage(request).service.rename(
        user(request), request.path_params["name"], params.new_name
    )
    return Response(status_code=201)


@router.post("/{name}/update-options", status_code=201)
async def update_options(request: Request) -> Response:
    params = await read_params(request, OptionsParams)
    await _storage(request).service.update_options(
        user(request),
        request.path_params["name"],
        permission=params.permission,
        cloneable=params.cloneable,
    )
    return Response(status_code=201)


@router.post("/{name}/clone", status_code=201)
async def clone(request: Request) -> Any:
    params = await read_params(request, CloneParams)
    folder, task_id = await _storage(request).service.clone(
        user(request),
        request.path_params["name"],
        target_name=params.target_name,
        target_host=params.target_host,
        usage_mode=params.usage_mode,
        permission=params.permission,
        cloneable=params.cloneable,
    )
    return {**folder_json(folder), "bgtask_id": str(task_id)}


@router.post("/{name}/invite", status_code=201)
async def invite(request: Request) -> Any:
    params = await read_params(request, InviteParams)
    invited = await _storage(request).invitations.invite(
        user(request), request.path_params["name"], params.perm, params.user_ids
    )
    return {"invited_ids": invited}


@router.post("/{name}/share", status_code=201)
async def share(request: Request) -> Any:
    params = await read_params(request, ShareParams)
    shared = await _storage(request).sharing.share(
        user(request), request.path_params["name"], params.permission, params.emails
    )
    return {"shared_emails": shared}


@router.delete("/{name}/unshare")
async def unshare(request: Request) -> Any:
    params = await read_params(request, UnshareParams)
    unshared = await _storage(request).sharing.unshare(
        user(request), request.path_params["name"], params.emails
    )
    return {"unshared_emails": unshared}


@router.post("/{name}/leave")
async def leave(request: Request) -> Any:
    await _storage(request).sharing.leave(user(request), request.path_params["name"])
    return {"msg": "left the shared vfolder"}
