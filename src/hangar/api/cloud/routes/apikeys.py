"""A user's own API keys (Hangar's, not in the platform's API): list, create (the key is in
the answer this once), revoke. Another user's key id answers 10007."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hangar.api.cloud.registry import Call, WireModel, route
from hangar.core.identity.apikeys.models import ApiKey


class CreateApiKey(WireModel):
    name: str = Field(default="", max_length=64)


def _wire(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "active": key.active,
        "createdAt": key.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@route("GET", "/v2/api-keys")
async def list_keys(call: Call) -> list[dict[str, Any]]:
    keys = await call.services.apikeys.listed(user_uuid=call.principal.user_uuid)
    return [_wire(k) for k in keys]


@route("POST", "/v2/api-keys")
async def create_key(call: Call) -> dict[str, Any]:
    body = await call.body(CreateApiKey)
    created = await call.services.apikeys.create(email=call.principal.email, name=body.name)
    return {**_wire(created.key), "key": created.secret}


@route("DELETE", "/v2/api-keys/{id}")
async def revoke_key(call: Call) -> bool:
    await call.services.apikeys.revoke(call.path_id(), user_uuid=call.principal.user_uuid)
    return True
