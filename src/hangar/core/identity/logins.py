"""Passwords and console logins: the part of the identity service that checks passwords."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import AuthFailed, InvalidRequest, TooManyLoginFailures
from hangar.core.identity import repo
from hangar.core.identity.models import (
    Authorized,
    LoginResult,
    NewKeyPair,
    User,
    UserStatus,
)
from hangar.core.identity.repo import accounts
from hangar.core.identity.secrets import SecretBox, hash_password, verify_password
from hangar.core.principal import Principal
from hangar.db.engine import DbSession

LOGIN_FAILURE_WINDOW = 600.0


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Logins:
    """Password checks with a lock-out after repeated failures, console login sessions and
    the caller's own password, name and sign-out. Mixed into the identity service."""

    _sessions: async_sessionmaker[DbSession]
    _box: SecretBox
    _clock: Clock
    _login_failures: dict[str, list[float]]
    _login_failure_limit: int
    _login_lifetime: timedelta

    def forget_credentials(self, access_keys: list[str]) -> None:
        raise NotImplementedError  # the identity service's credential cache

    async def _check_password(self, email: str, password: str) -> tuple[User, accounts.MainKey]:
        self._raise_if_locked(email)
        async with self._sessions() as db:
            account = await accounts.find_account(db, email)
        ok = account is not None and await asyncio.to_thread(
            verify_password, account.password_hash, password
        )
        if not ok or account is None:
            self._login_failures[email].append(self._clock.monotonic())
            raise AuthFailed("User credentials mismatch.")
        if account.user.status != UserStatus.ACTIVE or account.main is None:
            raise AuthFailed("The user is inactive or has no active keypair.")
        self._login_failures.pop(email, None)
        return account.user, account.main

    def _raise_if_locked(self, email: str) -> None:
        cutoff = self._clock.monotonic() - LOGIN_FAILURE_WINDOW
        recent = [t for t in self._login_failures.get(email, []) if t > cutoff]
        if recent:
            self._login_failures[email] = recent
        if len(recent) >= self._login_failure_limit:
            raise TooManyLoginFailures()

    async def authorize(self, *, email: str, password: str, domain_name: str) -> Authorized:
        """Password check answering with the user's main keypair (``/auth/authorize``)."""
        user, main = await self._check_password(email, password)
        if user.domain_name != domain_name:
            raise AuthFailed("User credentials mismatch.")
        secret = self._box.decrypt(main.secret_encrypted)
        return Authorized(NewKeyPair(main.keypair, secret), user.role, user.status)

    async def login(self, *, email: str, password: str) -> LoginResult:
        """Start a console session; the returned token is the cookie value."""
        user, main = await self._check_password(email, password)
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            await accounts.add_login_session(
                db,
                token_hash=_token_hash(token),
                user_uuid=user.uuid,
                access_key=main.keypair.access_key,
                created_at=now,
                expires_at=now + self._login_lifetime,
            )
        return LoginResult(token, main.principal, user.status)

    async def caller_for_login(self, token: str) -> Principal:
        """The caller behind a console cookie. Raises AuthFailed when unknown or expired."""
        async with self._sessions() as db:
            found = await repo.find_login_session(db, _token_hash(token))
        if found is None:
            raise AuthFailed("Unauthorized access")
        session, kp, user = found
        if session.expires_at <= self._clock.now() or not kp.is_active:
            raise AuthFailed("Login session expired")
        if user.status != UserStatus.ACTIVE:
            raise AuthFailed("Unauthorized access")
        return repo.caller_from_rows(kp, user)

    async def logout(self, token: str) -> None:
        """End a console session (idempotent)."""
        async with self._sessions() as db, db.begin():
            await accounts.delete_login_session(db, _token_hash(token))

    async def update_password(self, caller: Principal, *, old: str, new: str) -> None:
        """Change the caller's password. Raises AuthFailed on a wrong old password."""
        async with self._sessions() as db:
            user = await repo.get_user_row(db, caller.user_uuid)
        if not await asyncio.to_thread(verify_password, user.password_hash, old):
            raise AuthFailed("Old password mismatch")
        if len(new) < 8:
            raise InvalidRequest("password must be at least 8 characters")
        new_hash = await asyncio.to_thread(hash_password, new)
        values = {
            "password_hash": new_hash,
            "need_password_change": False,
            "modified_at": self._clock.now(),
        }
        async with self._sessions() as db, db.begin():
            await accounts.set_user_columns(db, caller.user_uuid, values)

    async def update_full_name(self, caller: Principal, full_name: str) -> None:
        values = {"full_name": full_name[:64], "modified_at": self._clock.now()}
        async with self._sessions() as db, db.begin():
            await accounts.set_user_columns(db, caller.user_uuid, values)

    async def signout(self, caller: Principal, *, email: str, password: str) -> None:
        """Deactivate the caller's own account and keypairs after a password check."""
        if email != caller.email:
            raise AuthFailed("Signing out another user is not allowed.")
        await self._check_password(email, password)
        values = {"status": UserStatus.INACTIVE.value, "modified_at": self._clock.now()}
        async with self._sessions() as db, db.begin():
            await accounts.set_user_columns(db, caller.user_uuid, values)
            await accounts.deactivate_keypairs_of(db, caller.user_uuid)
        if caller.access_key is not None:
            self.forget_credentials([caller.access_key])
