"""``auth.*``: logins (a token for a credential)."""

from __future__ import annotations

from typing import Any

from hangar.api.clearml import tokens
from hangar.api.clearml.auth import authenticate
from hangar.api.clearml.params import validation_error
from hangar.api.clearml.registry import Call, endpoint


def _lifetime(value: Any) -> int:
    """``expiration_sec``, honoured up to a year; the default is 30 days."""
    if value is None:
        return tokens.DEFAULT_LIFETIME
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise validation_error("expiration_sec must be a positive integer")
    return min(value, tokens.MAX_LIFETIME)


@endpoint("auth.login", auth=False)
async def login(call: Call) -> dict[str, Any]:
    """A token for Basic key:secret, or a fresh one for a valid Bearer token."""
    lifetime = _lifetime(call.body.get("expiration_sec"))
    services = call.services
    principal = await authenticate(services, call.request.headers.get("authorization"))
    user = await services.reads.directory.user(principal)
    user_name = (user.full_name or user.username) if user is not None else principal.email
    holder = tokens.Holder(principal, principal.credential.id, user_name)
    key = services.identity.signing_key(tokens.PURPOSE)
    token = tokens.issue(key, holder, now=services.clock.time(), lifetime=lifetime)
    return {"token": token}
