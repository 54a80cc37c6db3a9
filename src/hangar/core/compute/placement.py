"""Turn stored state into the pure scheduler's inputs (and nothing else)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from hangar.core.agents.models import AgentRecord
from hangar.core.compute import repo
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.options import DEVICE_MODEL
from hangar.core.errors import InvalidRequest
from hangar.core.identity.models import DefaultForUnspecified
from hangar.core.images.service import ImageService
from hangar.core.scheduler import (
    EMPTY_SLOTS,
    AgentState,
    GpuDevice,
    PendingSession,
    PolicyUsage,
    ResourceSlots,
)
from hangar.core.scheduler.feasibility import never_fits
from hangar.db.engine import DbSession


@dataclass(frozen=True, slots=True)
class SchedulerInputs:
    pending: list[PendingSession]
    agents: list[AgentState]
    usage: dict[str, PolicyUsage]
    by_id: dict[uuid.UUID, ComputeSession]


def _slots(raw: dict[str, str], *, gpu: bool) -> ResourceSlots:
    return ResourceSlots.parse({k: v for k, v in raw.items() if k.startswith("cuda.") == gpu})


def usage_key(session: ComputeSession) -> str:
    """Whose resource policy and usage a session counts against: the keypair it was created
    with (the policy is attached to the keypair), else its user."""
    if session.access_key is not None:
        return session.access_key
    return f"user:{session.user_uuid}"


async def _usage(
    db: DbSession, keys: set[str], holding: list[ComputeSession]
) -> dict[str, PolicyUsage]:
    used: dict[str, list[ComputeSession]] = defaultdict(list)
    for session in holding:
        used[usage_key(session)].append(session)
    usage: dict[str, PolicyUsage] = {}
    for key, policy in await repo.policies_of(db, keys):
        occupied = EMPTY_SLOTS
        for session in used[key]:
            occupied = occupied + ResourceSlots.parse(session.occupied_slots)
        usage[key] = PolicyUsage(
            concurrency_used=len(used[key]),
            concurrency_limit=policy.max_concurrent_sessions or None,
            occupied=occupied,
            total_slots=ResourceSlots.parse(policy.total_resource_slots, allow_unlimited=True),
            default_for_unspecified=DefaultForUnspecified(policy.default_for_unspecified),
        )
    return usage


def _agent_states(agents: list[AgentRecord], holding: list[ComputeSession]) -> list[AgentState]:
    occupied: dict[str, ResourceSlots] = defaultdict(lambda: EMPTY_SLOTS)
    shares: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for session in holding:
        if session.agent_id is None:
            continue
        occupied[session.agent_id] = occupied[session.agent_id] + _slots(
            session.occupied_slots, gpu=False
        )
        for alloc in session.device_allocations:
            shares[(session.agent_id, alloc["device"])] += Decimal(alloc["shares"])
    return [
        AgentState(
            id=agent.id,
            scaling_group=agent.scaling_group,
            available_slots=_slots(agent.available_slots, gpu=False),
            occupied_slots=occupied[agent.id],
            schedulable=agent.schedulable,
            devices=tuple(
                GpuDevice(
                    d["id"],
                    Decimal(d["shares"]),
                    shares[(agent.id, d["id"])],
                    str(d.get("model") or ""),
                )  # fmt: skip
                for d in agent.devices
            ),
        )
        for agent in agents
    ]


def refuse_impossible(
    requested: ResourceSlots,
    agents: list[AgentRecord],
    scaling_group: str,
    agent_list: list[str] | None,
) -> None:
    """Raise InvalidRequest when no ALIVE schedulable agent of ``scaling_group`` (of
    ``agent_list`` when given) could hold ``requested`` even idle. With no such agent the
    request queues: an agent may join or come back."""
    candidates = [
        agent
        for agent in agents
        if agent.scaling_group == scaling_group
        and agent.schedulable
        and (not agent_list or agent.id in agent_list)
    ]
    reason = never_fits(
        requested, _agent_states(candidates, []), f"scaling group {scaling_group!r}"
    )
    if reason is not None:
        raise InvalidRequest(reason)


async def build_inputs(
    db: DbSession,
    pending: list[ComputeSession],
    holding: list[ComputeSession],
    agents: list[AgentRecord],
    images: ImageService,
    with_dependencies: Collection[uuid.UUID] | None = None,
) -> SchedulerInputs:
    """``with_dependencies``: which of ``pending`` have dependencies, when known (the
    others' are not read; None: read those of all)."""
    image_cache = {}
    requests = []
    asked = [s.id for s in pending] if with_dependencies is None else list(with_dependencies)
    dependencies = await repo.dependency_states(db, asked)
    for session in pending:
        if session.image_id not in image_cache:
            image_cache[session.image_id] = await images.get(session.image_id)
        image = image_cache[session.image_id]
        requests.append(
            PendingSession(
                id=session.id,
                usage_key=usage_key(session),
                user_uuid=session.user_uuid,
                group_id=session.group_id,
                domain_name=session.domain_name,
                scaling_group=session.scaling_group,
                requested=ResourceSlots.parse(session.requested_slots),
                created_at=session.created_at,
                cluster_size=session.cluster_size,
                image_min=ResourceSlots.parse(image.min_slots()),
                image_max=ResourceSlots.parse(image.max_slots()),
                not_before=session.starts_at,
                dependencies=dependencies.get(session.id, ()),
                # A resumed session has an agent already: its scratch dir is kept there.
                agent_ids=frozenset([session.agent_id] if session.agent_id else session.agent_list),
                device_model=session.resource_opts.get(DEVICE_MODEL, ""),
            )
        )
    usage = await _usage(db, {usage_key(s) for s in pending}, holding)
    return SchedulerInputs(
        requests, _agent_states(agents, holding), usage, {s.id: s for s in pending}
    )
