"""Who is calling: ``Authorization: Bearer <jwt>`` from ``auth.login``, or ``Basic`` with a
credential (a Hangar access/secret key pair), which the clients send to ``auth.login``.

Errors follow the reference server: no header 401/20, a malformed one 401/21, a wrong key or
secret 401/22, a bad, expired or revoked token 401/30 (the SDK then logs in again once).
Calls count against the keypair's rate limit as in the other faces (429: the SDK backs off).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac

from hangar.api.clearml import tokens
from hangar.api.clearml.errors import ClearmlError, invalid_token
from hangar.core.errors import AuthFailed, RateLimited
from hangar.core.principal import Credential, CredentialKind, Principal
from hangar.core.services import Services


def _admitted(
    services: Services, principal: Principal, kind: CredentialKind, access_key: str
) -> Principal:
    """The keypair's principal as a ClearML credential, once its call is counted against the
    keypair's rate limit (the same window and usage counters as in the other faces)."""
    decision = services.identity.admit(principal)
    if not decision.allowed:
        raise RateLimited(retry_after=decision.retry_after)
    return dataclasses.replace(principal, credential=Credential(kind, access_key))


def basic_credentials(value: str) -> tuple[str, str]:
    """(access key, secret) of a Basic authorization value; 401/21 when malformed."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ClearmlError(401, 21, "Bad credentials: malformed Basic authorization") from None
    access_key, sep, secret = decoded.partition(":")
    if not sep or not access_key:
        raise ClearmlError(401, 21, "Bad credentials: expected key:secret")
    return access_key, secret


async def by_secret(services: Services, access_key: str, secret: str) -> Principal:
    """The principal of an active credential whose secret matches; 401/22 otherwise."""
    try:
        found = await services.identity.credentials_for(access_key)
    except AuthFailed:
        found = None
    if found is None or not hmac.compare_digest(found.secret_key.encode(), secret.encode()):
        raise ClearmlError(401, 22, "Invalid credentials: unknown access key or wrong secret")
    return _admitted(services, found.caller, CredentialKind.CLEARML_CREDENTIAL, access_key)


async def by_token(services: Services, token: str) -> Principal:
    """The principal of a valid token whose credential is still active; 401/30 otherwise."""
    key = services.identity.signing_key(tokens.PURPOSE)
    claims = tokens.VERIFIED.verify(key, token, now=services.clock.time())
    try:
        found = await services.identity.credentials_for(claims.access_key)
    except AuthFailed:
        raise invalid_token("the credential was revoked") from None
    if str(found.caller.user_uuid) != claims.user:
        raise invalid_token("the credential changed hands")
    return _admitted(services, found.caller, CredentialKind.CLEARML_JWT, claims.access_key)


async def authenticate(services: Services, header: str | None) -> Principal:
    """The caller an Authorization header proves."""
    if not header:
        raise ClearmlError(401, 20, "Unauthorized (missing credentials)")
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value.strip():
        return await by_token(services, value.strip())
    if scheme == "basic":
        access_key, secret = basic_credentials(value)
        return await by_secret(services, access_key, secret)
    raise ClearmlError(401, 21, "Bad credentials: use Bearer <token> or Basic <key:secret>")
