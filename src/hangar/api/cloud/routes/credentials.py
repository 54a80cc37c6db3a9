"""Container-registry credentials, ``/v2/container-registry-auths`` (C1-C5): a user's own,
passwords write-only; another user's id answers 10007 like an unknown one; deleting one that
a live workload pulls with is 12001."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from hangar.api.cloud.registry import Call, WireModel, route
from hangar.core.images.auths.models import RegistryAuth, RegistryKind

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9@._-]{0,19}$")]
Secret = Annotated[str, Field(min_length=1, max_length=255)]


class CreateCredential(WireModel):
    name: Name
    type: RegistryKind = RegistryKind.PRIVATE
    username: Secret
    password: Secret


class UpdateCredential(WireModel):
    name: Name | None = None
    username: Secret | None = None
    password: Secret | None = None


def wire(auth: RegistryAuth) -> dict[str, Any]:
    return {
        "id": auth.id,
        "name": auth.name,
        "type": auth.kind.value,
        "createdAt": auth.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


BASE = "/v2/container-registry-auths"


@route("GET", BASE)
async def list_credentials(call: Call) -> list[dict[str, Any]]:
    return [wire(a) for a in await call.services.registry_auths.owned(call.principal.user_uuid)]


@route("POST", BASE)
async def create_credential(call: Call) -> dict[str, Any]:
    body = await call.body(CreateCredential)
    created = await call.services.registry_auths.create(
        call.principal.user_uuid,
        name=body.name,
        kind=body.type,
        username=body.username,
        password=body.password,
    )
    return wire(created)


@route("GET", BASE + "/{id}")
async def get_credential(call: Call) -> dict[str, Any]:
    return wire(await call.services.registry_auths.get(call.principal.user_uuid, call.path_id()))


@route("PATCH", BASE + "/{id}")
async def update_credential(call: Call) -> dict[str, Any]:
    auth_id = call.path_id()
    body = await call.body(UpdateCredential)
    updated = await call.services.registry_auths.update(
        call.principal.user_uuid,
        auth_id,
        name=body.name,
        username=body.username,
        password=body.password,
    )
    return wire(updated)


@route("DELETE", BASE + "/{id}")
async def delete_credential(call: Call) -> bool:
    await call.services.registry_auths.remove(call.principal.user_uuid, call.path_id())
    return True
