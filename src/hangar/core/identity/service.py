"""Identity service: users, keypairs, credentials for request authentication, logins."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import (
    AuthFailed,
    InvalidRequest,
    NotFound,
)
from hangar.core.identity import repo
from hangar.core.identity.logins import Logins
from hangar.core.identity.models import (
    Credentials,
    KeyPair,
    NewKeyPair,
    User,
    UserStatus,
)
from hangar.core.identity.ratelimit import RateDecision, SlidingWindowLimiter
from hangar.core.identity.repo import accounts
from hangar.core.identity.secrets import (
    SecretBox,
    generate_access_key,
    generate_secret_key,
    generate_ssh_keypair,
    hash_password,
)
from hangar.core.principal import Principal, Role
from hangar.db.engine import DbSession


@dataclass(frozen=True, slots=True)
class _Cached:
    expires: float
    credentials: Credentials


def _retrieve(task: asyncio.Task[Credentials]) -> None:
    """Mark a shared look-up's failure as seen even when every waiter was cancelled."""
    if not task.cancelled():
        task.exception()


class IdentityService(Logins):
    """Owns users and keypairs. Safe to share across requests of one event loop."""

    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        box: SecretBox,
        clock: Clock,
        *,
        cache_seconds: float = 1.0,
        default_rate_limit: int = 30_000,
        login_failure_limit: int = 10,
        login_session_hours: float = 24.0,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cache: dict[str, _Cached] = {}
        self._refreshing: dict[str, asyncio.Task[Credentials]] = {}
        self._usage: dict[str, int] = defaultdict(int)
        self._last_used: dict[str, datetime] = {}
        self._limiter = SlidingWindowLimiter(clock)
        self._login_failures: dict[str, list[float]] = defaultdict(list)
        self.default_rate_limit = default_rate_limit
        self._login_failure_limit = login_failure_limit
        self._login_lifetime = timedelta(hours=login_session_hours)
        self._signing_keys: dict[str, bytes] = {}

    # Users -----------------------------------------------------------------------------

    async def create_user(
        self,
        *,
        email: str,
        password: str,
        role: Role = Role.USER,
        domain_name: str = "default",
        group_name: str | None = "default",
        username: str | None = None,
        full_name: str = "",
        status: UserStatus = UserStatus.ACTIVE,
    ) -> User:
        """Create a user and add them to ``group_name``. Raises AlreadyExists, NotFound."""
        if "@" not in email or len(email) > 64:
            raise InvalidRequest("email must look like name@host and be at most 64 characters")
        if len(password) < 8:
            raise InvalidRequest("password must be at least 8 characters")
        password_hash = await asyncio.to_thread(hash_password, password)
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            if not await accounts.domain_exists(db, domain_name):
                raise NotFound("domain")
            group = await repo.find_group(db, domain_name, group_name) if group_name else None
            if group_name and group is None:
                raise NotFound("group")
            user = await accounts.insert_user(
                db,
                uuid=uuid.uuid4(),
                username=username or email,
                email=email,
                password_hash=password_hash,
                need_password_change=False,
                full_name=full_name,
                description="",
                status=status.value,
                status_info=None,
                role=role.value,
                domain_name=domain_name,
                created_at=now,
                modified_at=now,
            )
            if group is not None:
                await accounts.add_member(db, user.uuid, group.id)
        return user

    async def list_users(self) -> list[User]:
        async with self._sessions() as db:
            return await repo.list_users(db)

    # Keypairs --------------------------------------------------------------------------

    async def issue_keypair(
        self,
        *,
        email: str,
        is_admin: bool = False,
        resource_policy: str = "default",
        rate_limit: int | None = None,
    ) -> NewKeyPair:
        """Issue a new keypair for the user; the secret is returned only here."""
        secret = generate_secret_key()
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            user = await repo.get_user_row_by_email(db, email)
            await repo.get_policy(db, resource_policy)
            keypair = await accounts.insert_keypair(
                db,
                user.email,
                access_key=generate_access_key(),
                secret_key_encrypted=self._box.encrypt(secret),
                user_uuid=user.uuid,
                is_active=True,
                is_admin=is_admin,
                resource_policy=resource_policy,
                rate_limit=rate_limit if rate_limit is not None else self.default_rate_limit,
                num_queries=0,
                created_at=now,
                modified_at=now,
                last_used=None,
            )
        return NewKeyPair(keypair, secret)

    async def on_behalf_of(self, user_uuid: uuid.UUID) -> tuple[Principal, NewKeyPair]:
        """For work the server does for a user unattended (a queued task it runs): the
        user's principal as their main keypair (what a console login acts with) and a fresh
        keypair, without admin rights, for the work's own API calls; the caller deletes it
        when the work ends. Raises AuthFailed for an inactive user or one without keypairs."""
        async with self._sessions() as db:
            user = await repo.get_user_row(db, user_uuid)
            main = await repo.main_keypair_of(db, user_uuid)
        if user.status != UserStatus.ACTIVE or main is None:
            raise AuthFailed("The user is inactive or has no active keypair.")
        issued = await self.issue_keypair(email=user.email, resource_policy=main.resource_policy)
        return repo.caller_from_rows(main, user), issued

    async def list_keypairs(
        self, *, email: str | None = None, is_active: bool | None = None
    ) -> list[KeyPair]:
        async with self._sessions() as db:
            return await repo.list_keypairs(db, email=email, is_active=is_active)

    async def set_keypair_active(self, access_key: str, active: bool) -> None:
        """Activate or deactivate a keypair (idempotent). Raises NotFound."""
        async with self._sessions() as db, db.begin():
            values = {"is_active": active, "modified_at": self._clock.now()}
            await accounts.update_keypair(db, access_key, values)
        self._cache.pop(access_key, None)

    async def revoke_own_keypair(self, caller: Principal, access_key: str) -> bool:
        """Deactivate one of the caller's own keypairs; False when it already was inactive.
        Raises NotFound for a key that is not the caller's (someone else's looks unknown)."""
        async with self._sessions() as db, db.begin():
            if await accounts.keypair_owner(db, access_key) != caller.user_uuid:
                raise NotFound("credentials", f"No credentials with access key {access_key}.")
            values = {"is_active": False, "modified_at": self._clock.now()}
            was_active = await accounts.update_keypair(db, access_key, values)
        self._cache.pop(access_key, None)
        return was_active

    async def delete_keypair(self, access_key: str) -> None:
        async with self._sessions() as db, db.begin():
            await accounts.delete_keypair(db, access_key)
        self._cache.pop(access_key, None)

    def forget_credentials(self, access_keys: list[str]) -> None:
        """Drop cached credentials so the next request re-reads the keypair and user."""
        for access_key in access_keys:
            self._cache.pop(access_key, None)

    async def regenerate_secret(self, access_key: str) -> str:
        """Replace a keypair's secret key; the new one is returned only here."""
        secret = generate_secret_key()
        encrypted, now = self._box.encrypt(secret), self._clock.now()
        values = {"secret_key_encrypted": encrypted, "modified_at": now}
        async with self._sessions() as db, db.begin():
            await accounts.update_keypair(db, access_key, values)
        self._cache.pop(access_key, None)
        return secret

    async def reveal_secret(self, access_key: str) -> str:
        """The clear secret of a keypair, for local administration only."""
        async with self._sessions() as db:
            row = await repo.get_keypair_row(db, access_key)
            return self._box.decrypt(row.secret_key_encrypted)

    # Request authentication ------------------------------------------------------------

    def signing_key(self, purpose: str) -> bytes:
        """The installation's key for signing tokens of one purpose (e.g. a face's login
        tokens), derived from the server key and kept for later calls."""
        key = self._signing_keys.get(purpose)
        if key is None:
            key = self._signing_keys[purpose] = self._box.derive(purpose)
        return key

    def cached_credentials(self, access_key: str) -> Credentials | None:
        """``credentials_for`` without waiting: the cached entry if it is still fresh."""
        cached = self._cache.get(access_key)
        if cached is not None and cached.expires > self._clock.monotonic():
            return cached.credentials
        return None

    async def credentials_for(self, access_key: str) -> Credentials:
        """The secret and caller of an active keypair of an active user.

        Cached for ``cache_seconds``; concurrent misses of one key share a single database
        read, so a busy key never stalls every request at once. Raises AuthFailed
        ("Access key not found") otherwise.
        """
        cached = self.cached_credentials(access_key)
        if cached is not None:
            return cached
        task = self._refreshing.get(access_key)
        if task is None:
            task = asyncio.create_task(self._refresh(access_key))
            task.add_done_callback(_retrieve)
            self._refreshing[access_key] = task
        return await asyncio.shield(task)

    async def refused_credentials(self, access_key: str) -> tuple[str, str] | None:
        """For a keypair that exists but is refused (it, or its user, is inactive): its
        clear secret and why, in one sentence; None otherwise. Tell the reason only to a
        caller whose signature proved the secret: nobody else may learn the key exists."""
        async with self._sessions() as db:
            found = await repo.find_keypair_with_user(db, access_key)
        if found is None:
            return None
        keypair, owner = found
        if owner.status != UserStatus.ACTIVE:
            reason = f"The user of access key {access_key} is {owner.status.lower()}."
        elif not keypair.is_active:
            reason = f"The access key {access_key} is inactive."
        else:
            return None
        return self._box.decrypt(keypair.secret_key_encrypted), reason

    async def _refresh(self, access_key: str) -> Credentials:
        try:
            async with self._sessions() as db:
                found = await repo.find_keypair_with_user(db, access_key)
            if found is None or not found[0].is_active or found[1].status != UserStatus.ACTIVE:
                self._cache.pop(access_key, None)
                raise AuthFailed("Access key not found")
            kp, user = found
            secret = self._box.decrypt(kp.secret_key_encrypted)
            creds = Credentials(secret, repo.caller_from_rows(kp, user))
            expires = self._clock.monotonic() + self._cache_seconds
            self._cache[access_key] = _Cached(expires, creds)
            return creds
        finally:
            self._refreshing.pop(access_key, None)

    def admit(self, caller: Principal) -> RateDecision:
        """Count one authenticated request against the rate limit of the caller's credential
        (and, for a keypair, its usage counters)."""
        decision = self._limiter.hit(str(caller.credential), caller.rate_limit)
        if decision.allowed and caller.access_key is not None:
            self._usage[caller.access_key] += 1
            self._last_used[caller.access_key] = self._clock.now()
        return decision

    async def flush_usage(self) -> None:
        """Write accumulated query counters (``num_queries``, ``last_used``)."""
        if not self._usage:
            return
        usage, self._usage = self._usage, defaultdict(int)
        last_used, self._last_used = self._last_used, {}
        batch = [(ak, n, last_used[ak]) for ak, n in usage.items()]
        async with self._sessions() as db, db.begin():
            await repo.add_usage(db, batch)

    async def group_id_for(self, caller: Principal, domain_name: str, group: str) -> uuid.UUID:
        """The id of a group (by name or id) the caller may use. Raises InvalidRequest."""
        if domain_name != caller.domain_name and not caller.is_superadmin:
            raise InvalidRequest(f"Invalid domain: {domain_name}")
        async with self._sessions() as db:
            found = await repo.find_group(db, domain_name, group)
            if found is None:
                with contextlib.suppress(ValueError):
                    found = await repo.find_group_by_id(db, uuid.UUID(group))
            member = found is not None and (
                caller.is_superadmin
                or await repo.is_group_member(db, caller.user_uuid, domain_name, str(found.id))
            )
        if found is None or not member:
            raise InvalidRequest(f"Invalid group: {group}")
        return found.id

    async def is_group_member(self, caller: Principal, group: str) -> bool:
        """Whether the caller belongs to the group given by id or by name."""
        async with self._sessions() as db:
            return await repo.is_group_member(db, caller.user_uuid, caller.domain_name, group)

    # SSH keypair of a keypair (used by sessions' sshd) --------------------------------

    async def get_ssh_public_key(self, caller: Principal) -> str | None:
        async with self._sessions() as db:
            row = await repo.get_keypair_row(db, _keypair_of(caller))
            return row.ssh_public_key

    async def regenerate_ssh_keypair(self, caller: Principal) -> tuple[str, str]:
        public, private = await asyncio.to_thread(generate_ssh_keypair)
        values = {"ssh_public_key": public, "ssh_private_key_encrypted": self._box.encrypt(private)}
        async with self._sessions() as db, db.begin():
            await accounts.update_keypair(db, _keypair_of(caller), values)
        return public, private


def _keypair_of(caller: Principal) -> str:
    """The access key of a caller that came with a keypair (SSH keys belong to keypairs)."""
    if caller.access_key is None:
        raise InvalidRequest("This needs a keypair; the request came with another credential.")
    return caller.access_key
