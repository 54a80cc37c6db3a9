"""Who is calling: ``X-Api-Key: <key>`` (header names are case-insensitive), or
``Authorization: Bearer <key>``. A missing, unknown or revoked key is 401/40101; each call
counts against the rate limit of the key (with its user's keypair limit), as in the other
faces."""

from __future__ import annotations

from starlette.requests import Request

from hangar.core.errors import AuthFailed, RateLimited
from hangar.core.principal import Principal
from hangar.core.services import Services


def presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key is not None and key.strip():
        return key.strip()
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def authenticate(services: Services, request: Request) -> Principal:
    key = presented_key(request)
    if key is None:
        raise AuthFailed("Missing API key: send it as X-Api-Key.")
    principal = await services.apikeys.principal_for(key)
    decision = services.identity.admit(principal)
    if not decision.allowed:
        raise RateLimited(retry_after=decision.retry_after)
    return principal
