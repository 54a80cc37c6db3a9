"""First start: the defaults every installation needs, and the first admin."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.identity import repo
from hangar.core.identity.apikeys.service import ApiKeyService
from hangar.core.identity.models import DefaultForUnspecified, NewKeyPair
from hangar.core.identity.secrets import generate_password
from hangar.core.identity.service import IdentityService
from hangar.core.principal import Role
from hangar.db.engine import DbSession
from hangar.db.tables.identity import DomainRow, GroupRow, ResourcePolicyRow
from hangar.db.tables.scaling import ScalingGroupDomainRow, ScalingGroupRow

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


async def _create_defaults(db: DbSession, clock: Clock) -> None:
    now = clock.now()
    db.add(
        DomainRow(
            name=DEFAULT,
            description="The default domain",
            is_active=True,
            created_at=now,
            modified_at=now,
            total_resource_slots={},
            allowed_vfolder_hosts=["local"],
            allowed_docker_registries=[],
            integration_id=None,
        )
    )
    db.add(
        ScalingGroupRow(
            name=DEFAULT,
            description=DEFAULT_GROUP_DESCRIPTION,
            is_active=True,
            created_at=now,
            driver="static",
            driver_opts={},
            scheduler="fifo",
            scheduler_opts={},
            wsproxy_addr=None,
        )
    )
    db.add(
        ResourcePolicyRow(
            name=DEFAULT,
            created_at=now,
            default_for_unspecified=DefaultForUnspecified.UNLIMITED.value,
            total_resource_slots={},
            max_session_lifetime=0,
            max_concurrent_sessions=5,
            max_containers_per_session=1,
            idle_timeout=1800,
            max_vfolder_count=10,
            max_vfolder_size=0,
            allowed_vfolder_hosts=["local"],
        )
    )
    await db.flush()
    db.add(
        GroupRow(
            id=uuid.uuid4(),
            name=DEFAULT,
            description="The default project",
            is_active=True,
            created_at=now,
            modified_at=now,
            domain_name=DEFAULT,
            total_resource_slots={},
            allowed_vfolder_hosts=["local"],
            integration_id=None,
        )
    )
    db.add(ScalingGroupDomainRow(scaling_group=DEFAULT, domain=DEFAULT))


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
        if await db.get(DomainRow, DEFAULT) is None:
            await _create_defaults(db, clock)
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
