"""API keys of the GPU-cloud face: created for a user (shown once), listed, revoked, and
turned into the principal of a request. Only each key's SHA-256 is stored: a key has 256
random bits, so a fast hash is as safe as a slow one and costs one look-up per request."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import AuthFailed, InvalidRequest, NotFound
from hangar.core.identity import repo as identity_repo
from hangar.core.identity.apikeys import repo
from hangar.core.identity.apikeys.models import ApiKey, NewApiKey
from hangar.core.identity.models import UserStatus
from hangar.core.principal import Credential, CredentialKind, Principal, Role
from hangar.db.engine import DbSession

KEY_PREFIX = "hk_"
MAX_KEY_LENGTH = 256


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyService:
    def __init__(self, sessions: async_sessionmaker[DbSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def create(self, *, email: str, name: str = "") -> NewApiKey:
        """A new key for the user with ``email``; the key itself is returned only here."""
        if len(name) > 64 or not name.isprintable():
            raise InvalidRequest("An API key's name is at most 64 printable characters.")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        async with self._sessions() as db, db.begin():
            user = await identity_repo.get_user_row_by_email(db, email)
            key = await repo.add(
                db,
                user=user,
                key_hash=key_hash(secret),
                prefix=secret[:10],
                name=name,
                now=self._clock.now(),
            )
        return NewApiKey(key, secret)

    async def listed(self, *, user_uuid: uuid.UUID | None = None) -> list[ApiKey]:
        """Every key (an administrator's view), or one user's."""
        async with self._sessions() as db:
            return await repo.listed(db, user_uuid)

    async def revoke(self, key_id: int, *, user_uuid: uuid.UUID | None = None) -> None:
        """Refuse the key from now on; NotFound for no such key (of ``user_uuid``)."""
        async with self._sessions() as db, db.begin():
            if not await repo.revoke(db, key_id, user_uuid, self._clock.now()):
                raise NotFound("api key", f"No API key with id {key_id}.")

    async def principal_for(self, key: str) -> Principal:
        """The caller a key proves: its user acting as a plain user (no admin scope), with
        the limits of the user's main keypair. AuthFailed for an unknown or revoked key."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise AuthFailed("Invalid API key.")
        async with self._sessions() as db:
            found = await repo.holder(db, key_hash(key))
        if found is None or found[1].status != UserStatus.ACTIVE:
            raise AuthFailed("Invalid API key.")
        key_id, user, keypair = found
        return Principal(
            user_uuid=user.uuid,
            email=user.email,
            domain_name=user.domain_name,
            role=Role(user.role),
            credential=Credential(CredentialKind.CLOUD_API_KEY, str(key_id)),
            resource_policy=keypair.resource_policy,
            rate_limit=keypair.rate_limit,
        )
