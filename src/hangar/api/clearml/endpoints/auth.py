"""``auth.*``: logins (a token for a credential), credentials and their labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hangar.api.clearml import tokens
from hangar.api.clearml.auth import authenticate, by_token
from hangar.api.clearml.errors import ClearmlError
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


class CreateCredentialsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    label: str | None = Field(default=None, max_length=256)


class RevokeCredentialsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_key: str = Field(min_length=1, max_length=64)


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@endpoint("auth.create_credentials")
async def create_credentials(call: Call) -> dict[str, Any]:
    """A new credential of the caller: a Hangar keypair (its secret is shown only here)."""
    request = call.parse(CreateCredentialsRequest)
    issued = await call.services.identity.issue_keypair(email=call.principal.email)
    keypair = issued.keypair
    credentials = {"access_key": keypair.access_key, "secret_key": issued.secret_key}
    if request.label is not None:
        await call.services.tracking.credential_labels.label(keypair.access_key, request.label)
        credentials["label"] = request.label
    return {"credentials": credentials}


@endpoint("auth.get_credentials")
async def get_credentials(call: Call) -> dict[str, Any]:
    """The caller's active credentials (access keys only)."""
    principal = call.principal
    views = await call.services.reads.keypairs.keypairs(
        principal, email=principal.email, is_active=True
    )
    labels = await call.services.tracking.credential_labels.labels([v.access_key for v in views])
    return {
        "credentials": [
            {
                "access_key": view.access_key,
                "last_used": _stamp(view.keypair.last_used),
                "last_used_from": None,
                **({"label": labels[view.access_key]} if view.access_key in labels else {}),
            }
            for view in views
        ]
    }


class EditCredentialsRequest(RevokeCredentialsRequest):
    label: str = Field(max_length=256)


@endpoint("auth.edit_credentials")
async def edit_credentials(call: Call) -> dict[str, Any]:
    """A new label for one of the caller's credentials."""
    request = call.parse(EditCredentialsRequest)
    principal = call.principal
    views = await call.services.reads.keypairs.keypairs(
        principal, email=principal.email, is_active=True
    )
    if request.access_key not in {view.access_key for view in views}:
        raise ClearmlError(400, 10, f"Invalid access key: {request.access_key}")
    await call.services.tracking.credential_labels.label(request.access_key, request.label)
    return {"updated": 1}


@endpoint("auth.logout")
async def logout(call: Call) -> dict[str, Any]:
    """Tokens are signed, not stored: logging out is the client forgetting its token (and
    the browser its cookie). Revoking the credential ends its tokens everywhere."""
    call.principal  # noqa: B018 - a logged-in caller
    return {}


@endpoint("auth.revoke_credentials")
async def revoke_credentials(call: Call) -> dict[str, Any]:
    """Deactivate one of the caller's credentials; its tokens stop working with it."""
    request = call.parse(RevokeCredentialsRequest)
    revoked = await call.services.identity.revoke_own_keypair(call.principal, request.access_key)
    return {"revoked": int(revoked)}


class ValidateTokenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: str = Field(max_length=8192)


@endpoint("auth.validate_token")
async def validate_token(call: Call) -> dict[str, Any]:
    """Whether a token is valid now (signature, expiry, active credential), and whose."""
    request = call.parse(ValidateTokenRequest)
    call.principal  # noqa: B018 - only a logged-in caller may ask
    try:
        holder = await by_token(call.services, request.token)
    except ClearmlError as exc:
        return {"valid": False, "msg": exc.message}
    return {"valid": True, "user": str(holder.user_uuid), "company": holder.domain_name}
