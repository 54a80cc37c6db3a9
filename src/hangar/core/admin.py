"""The admin plane's services, built once from the core's shared ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hangar.core.agents.admin import AgentAdmin
from hangar.core.identity.admin import IdentityAdmin
from hangar.core.images.admin import ImageAdmin
from hangar.core.manager.control import ManagerControl
from hangar.core.resources.service import Resources
from hangar.core.scaling.service import ScalingGroups
from hangar.core.templates.service import Templates

if TYPE_CHECKING:
    from hangar.core.services import Services


@dataclass(frozen=True, slots=True)
class AdminPlane:
    identity: IdentityAdmin
    scaling: ScalingGroups
    agents: AgentAdmin
    images: ImageAdmin
    resources: Resources
    templates: Templates
    control: ManagerControl


def build_admin_plane(services: Services) -> AdminPlane:
    sessions, clock = services.sessions, services.clock
    scaling = ScalingGroups(sessions, clock)
    agents = AgentAdmin(sessions, clock)
    return AdminPlane(
        identity=IdentityAdmin(sessions, clock, services.identity),
        scaling=scaling,
        agents=agents,
        images=ImageAdmin(sessions, services.images),
        resources=Resources(sessions, clock, scaling),
        templates=Templates(sessions, clock, identity=services.identity, compute=services.compute),
        control=ManagerControl(sessions, services.manager, services.lifecycle, agents),
    )
