"""Login tokens: HS256 JWTs with the claims the ClearML clients read (spec §2.3).

The clients decode the payload without checking it and pick their code paths by
``api_version``; the server checks signature and expiry on every call. A token names the
Hangar keypair (the ClearML credential) it was issued for, so that deactivating or deleting
the credential ends its tokens too.

Checking a signature and decoding the payload is most of a call's authentication, so the
tokens already verified are remembered (:class:`VerifiedTokens`, keyed by signing key and
token): expiry is still checked at every use, and the credential behind a token is looked up
at every call by the caller, so revoking it ends the token at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from hangar.api.clearml.envelope import API_VERSION, SERVER_VERSION
from hangar.api.clearml.errors import invalid_token
from hangar.core.principal import Principal, Role

ALGORITHM = "HS256"
PURPOSE = "clearml-jwt"
DEFAULT_LIFETIME = 30 * 24 * 3600
MAX_LIFETIME = 365 * 24 * 3600
CREDENTIAL_CLAIM = "hangar_credential"

_ROLES = {Role.SUPERADMIN: "root", Role.ADMIN: "admin", Role.USER: "user", Role.MONITOR: "guest"}


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says: its credential (access key), user and expiry."""

    access_key: str
    user: str
    expires: int


@dataclass(frozen=True, slots=True)
class Holder:
    """Who a token is issued to, as the ``identity`` claim shows them."""

    principal: Principal
    access_key: str
    user_name: str


def clearml_role(role: Role) -> str:
    return _ROLES[role]


def issue(key: bytes, holder: Holder, *, now: float, lifetime: int) -> str:
    """A signed token for ``holder`` valid ``lifetime`` seconds from ``now``."""
    principal = holder.principal
    issued = int(now)
    payload: dict[str, Any] = {
        "identity": {
            "user": str(principal.user_uuid),
            "company": principal.domain_name,
            "role": clearml_role(principal.role),
            "user_name": holder.user_name,
            "company_name": principal.domain_name,
        },
        "iat": issued,
        "exp": issued + lifetime,
        "api_version": API_VERSION,
        "server_version": SERVER_VERSION,
        "server_build": "hangar",
        "feature_set": "basic",
        "env": "hangar",
        "session_id": uuid.uuid4().hex,
        CREDENTIAL_CLAIM: holder.access_key,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def verify(key: bytes, token: str, *, now: float) -> TokenClaims:
    """The claims of a token this installation signed and that has not expired.
    Raises 401/30 otherwise."""
    try:
        payload = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"verify_exp": False, "require": ["exp"]}
        )
    except jwt.PyJWTError as exc:
        raise invalid_token(str(exc) or "malformed") from None
    identity = payload.get("identity")
    access_key = payload.get(CREDENTIAL_CLAIM)
    expires = payload.get("exp")
    if not isinstance(identity, dict) or not isinstance(access_key, str):
        raise invalid_token("missing claims")
    if not isinstance(expires, int) or expires <= now:
        raise invalid_token("expired")
    return TokenClaims(access_key, str(identity.get("user")), expires)


class VerifiedTokens:
    """Claims of tokens whose signature was checked, by (signing key, token), at most
    ``size`` of them (the oldest go first). Refused tokens are not remembered."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._claims: dict[tuple[bytes, str], TokenClaims] = {}

    def verify(self, key: bytes, token: str, *, now: float) -> TokenClaims:
        """:func:`verify`, answered from memory for a token seen before (still expiring)."""
        known = (key, token)
        claims = self._claims.get(known)
        if claims is None:
            claims = verify(key, token, now=now)
            if len(self._claims) >= self._size:
                del self._claims[next(iter(self._claims))]
            self._claims[known] = claims
        elif claims.expires <= now:
            del self._claims[known]
            raise invalid_token("expired")
        return claims

    def __len__(self) -> int:
        return len(self._claims)


VERIFIED = VerifiedTokens()
"""The server's memory of verified tokens (one per process: keys tell installations apart)."""
