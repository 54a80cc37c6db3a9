"""First start: the defaults every installation needs, and the first admin."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.identity import repo
from hangar.core.identity.apikeys.service import ApiKeyService
from hangar.core.identity.models import NewKeyPair
from hangar.core.identity.repo import accounts
from hangar.core.identity.repo.defaults import create_defaults
from hangar.core.identity.secrets import generate_password
from hangar.core.identity.service import IdentityService
from hangar.core.principal import Role
from hangar.db.engine import DbSession

DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class FirstAdmin:
    email: str
    password: str
    keypair: NewKeyPair
    api_key: str = ""  # the GPU-cloud face's key, shown once like the secret key


DEFAULT_GROUP_DESCRIPTION = "The default scaling group"
"""What the first start describes the default scaling group with (an administrator may
change it: the GPU-cloud face shows a changed description as the region's name)."""


async def bootstrap(
    sessions: async_sessionmaker[DbSession],
    identity: IdentityService,
    clock: Clock,
    *,
    admin_email: str,
) -> FirstAdmin | None:
    """On an empty database, create the defaults and a superadmin with a keypair.

    Returns the admin's one-time credentials, or None when users already exist (idempotent).
    """
    async with sessions() as db, db.begin():
        if await repo.count_users(db) > 0:
            return None
        if not await accounts.domain_exists(db, DEFAULT):
            await create_defaults(db, clock.now(), DEFAULT, DEFAULT_GROUP_DESCRIPTION)
    password = generate_password()
    await identity.create_user(
        email=admin_email,
        password=password,
        role=Role.SUPERADMIN,
        username="admin",
        full_name="Administrator",
    )
    keypair = await identity.issue_keypair(email=admin_email, is_admin=True)
    api_key = await ApiKeyService(sessions, clock).create(email=admin_email, name="first start")
    return FirstAdmin(admin_email, password, keypair, api_key.secret)
