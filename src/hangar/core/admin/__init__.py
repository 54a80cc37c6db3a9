"""The admin plane: what superadmins and domain admins change at run time, over the domains
below it (agents with their occupancy, manager control, identity, images, resources,
scaling groups, templates). Built once from the core's shared services."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.admin.agents import AgentAdmin
from hangar.core.admin.control import ManagerControl
from hangar.core.clock import Clock
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.service import ComputeService
from hangar.core.identity.admin import IdentityAdmin
from hangar.core.identity.service import IdentityService
from hangar.core.images.admin import ImageAdmin
from hangar.core.images.service import ImageService
from hangar.core.manager.service import ManagerService
from hangar.core.resources.service import Resources
from hangar.core.scaling.service import ScalingGroups
from hangar.core.templates.service import Templates
from hangar.db.engine import DbSession


@dataclass(frozen=True, slots=True)
class AdminPlane:
    identity: IdentityAdmin
    scaling: ScalingGroups
    agents: AgentAdmin
    images: ImageAdmin
    resources: Resources
    templates: Templates
    control: ManagerControl


def build_admin_plane(
    sessions: async_sessionmaker[DbSession],
    clock: Clock,
    *,
    identity: IdentityService,
    images: ImageService,
    manager: ManagerService,
    compute: ComputeService,
    lifecycle: SessionLifecycle,
) -> AdminPlane:
    scaling = ScalingGroups(sessions, clock)
    agents = AgentAdmin(sessions, clock)
    return AdminPlane(
        identity=IdentityAdmin(sessions, clock, identity),
        scaling=scaling,
        agents=agents,
        images=ImageAdmin(sessions, images),
        resources=Resources(sessions, clock, scaling),
        templates=Templates(sessions, clock, identity=identity, compute=compute),
        control=ManagerControl(sessions, manager, lifecycle, agents),
    )
