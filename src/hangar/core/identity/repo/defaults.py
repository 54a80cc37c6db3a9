"""What every installation starts with."""

from __future__ import annotations

import uuid
from datetime import datetime

from hangar.core.identity.models import DefaultForUnspecified
from hangar.db.engine import DbSession
from hangar.db.tables.identity import DomainRow, GroupRow, ResourcePolicyRow
from hangar.db.tables.scaling import ScalingGroupDomainRow, ScalingGroupRow


async def create_defaults(
    db: DbSession, now: datetime, name: str, scaling_group_description: str
) -> None:
    """Add the default domain, scaling group, resource policy and project, all called
    ``name``."""
    db.add(
        DomainRow(
            name=name,
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
            name=name,
            description=scaling_group_description,
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
            name=name,
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
            name=name,
            description="The default project",
            is_active=True,
            created_at=now,
            modified_at=now,
            domain_name=name,
            total_resource_slots={},
            allowed_vfolder_hosts=["local"],
            integration_id=None,
        )
    )
    db.add(ScalingGroupDomainRow(scaling_group=name, domain=name))
