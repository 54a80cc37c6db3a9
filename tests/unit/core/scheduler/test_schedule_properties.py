"""Properties of ``schedule`` over arbitrary clusters, sessions and keypair usage.

Whatever the input: every session is decided once; nothing is over-committed (agent slots,
GPU devices, keypair concurrency, resource-policy totals); every assignment is exactly its
request on an eligible agent; a session left pending for lack of room really fits nowhere once
the pass is done; and the plan does not depend on the order of the inputs.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TypeVar
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hangar.core.identity.models import DefaultForUnspecified
from hangar.core.scheduler import (
    POLICIES,
    AgentState,
    GpuDevice,
    PendingSession,
    PolicyUsage,
    ResourceSlots,
    SchedulePlan,
    schedule,
)
from hangar.core.scheduler.predicates import agent_accepts
from hangar.core.scheduler.slots import CUDA_DEVICE, CUDA_SHARES, GPU_SLOTS, ZERO
from tests.unit.core.scheduler.factories import OWNER, T0, sid

MIB256 = 256 << 20
PARTLY = tuple(Decimal(q) / 4 for q in range(1, 9))  # allocated shares, 0.25 to 2
KEYS = ("A", "B", "C")  # "D" has no usage record
T = TypeVar("T")


def mostly(common: T, *rare: T) -> st.SearchStrategy[T]:
    """``common`` four times in five, else one of ``rare``."""
    return st.sampled_from((common,) * 4 * len(rare) + rare)


@st.composite
def devices(draw: st.DrawFn) -> tuple[GpuDevice, ...]:
    found = []
    for i in range(draw(st.integers(0, 4))):
        capacity = Decimal(draw(mostly(1, 2)))
        allocated = min(draw(mostly(ZERO, *PARTLY)), capacity)
        found.append(GpuDevice(f"d{i}", capacity, allocated))
    return tuple(found)


@st.composite
def agents(draw: st.DrawFn) -> list[AgentState]:
    found = []
    for i in range(draw(st.integers(1, 6))):
        cores = draw(st.integers(0, 32)) / Decimal(2)
        capacity: dict[str, Decimal | int] = {
            "cpu": cores,
            "mem": draw(st.integers(0, 32)) * MIB256,
        }
        if draw(st.integers(0, 4)) == 0:
            capacity["tpu"] = draw(st.integers(0, 2))
        occupied: dict[str, Decimal | int] = {
            "cpu": draw(st.integers(0, int(cores * 2) + 4)) / Decimal(4),  # sometimes over
            "mem": draw(st.integers(0, 8)) * MIB256,
        }
        found.append(
            AgentState(
                id=f"agent{i}",
                scaling_group=draw(mostly("g1", "g2")),
                available_slots=ResourceSlots(capacity),
                occupied_slots=ResourceSlots(occupied),
                devices=draw(devices()),
                schedulable=draw(mostly(True, False)),
            )
        )
    return found


@st.composite
def requests(draw: st.DrawFn) -> ResourceSlots:
    amounts: dict[str, object] = {
        "cpu": draw(st.integers(0, 8)) / Decimal(2),
        "mem": draw(st.integers(0, 8)) * MIB256,
    }
    gpu = draw(st.sampled_from(("none", "none", "shares", "shares", "device", "both")))
    if gpu in ("shares", "both"):
        amounts[CUDA_SHARES] = draw(st.sampled_from(("0.25", "0.5", "0.75", "1", "1.5", "2.5")))
    if gpu in ("device", "both"):
        amounts[CUDA_DEVICE] = draw(st.integers(1, 3))
    if draw(st.integers(0, 9)) == 0:
        amounts["tpu"] = 1
    return ResourceSlots({k: Decimal(str(v)) for k, v in amounts.items()})


@st.composite
def sessions(draw: st.DrawFn) -> list[PendingSession]:
    found = []
    for n in range(1, draw(st.integers(0, 30)) + 1):
        found.append(
            PendingSession(
                id=sid(n),
                usage_key=draw(st.sampled_from((*KEYS, *KEYS, *KEYS, "D"))),
                user_uuid=OWNER,
                group_id=OWNER,
                domain_name="default",
                scaling_group=draw(mostly("g1", "g2", "g1", "g3")),
                requested=draw(requests()),
                created_at=T0.replace(second=draw(st.integers(0, 5))),
                priority=draw(mostly(0, 1)),
                cluster_size=draw(mostly(1, 1, 1, 1, 2)),
            )
        )
    return found


@st.composite
def usages(draw: st.DrawFn) -> dict[str, PolicyUsage]:
    found = {}
    for key in KEYS:
        totals = {}
        if draw(st.booleans()):
            totals["cpu"] = draw(st.integers(0, 40))
        if draw(st.booleans()):
            totals[CUDA_SHARES] = draw(st.integers(0, 6))
        found[key] = PolicyUsage(
            concurrency_used=draw(st.integers(0, 3)),
            concurrency_limit=draw(st.none() | st.integers(0, 8)),
            occupied=ResourceSlots({"cpu": draw(st.integers(0, 4))}),
            total_slots=ResourceSlots(totals),
            default_for_unspecified=draw(
                mostly(DefaultForUnspecified.UNLIMITED, DefaultForUnspecified.LIMITED)
            ),
        )
    return found


def _non_gpu(slots: Mapping[str, Decimal]) -> dict[str, Decimal]:
    return {k: v for k, v in slots.items() if k not in GPU_SLOTS and v}


def _final_state(
    cluster: Sequence[AgentState], plan: SchedulePlan
) -> tuple[dict[str, dict[str, Decimal]], dict[tuple[str, str], Decimal]]:
    """Free non-GPU slots per agent and free shares per device, after the plan.

    Asserts on the way that nothing is over-committed.
    """
    free = {
        a.id: {
            s: max(a.available_slots.amount(s) - a.occupied_slots.amount(s), ZERO)
            for s in a.available_slots
        }
        for a in cluster
    }
    shares = {(a.id, d.id): d.free for a in cluster for d in a.devices}
    untouched = {(a.id, d.id) for a in cluster for d in a.devices if d.allocated == 0}
    for assignment in plan.assignments:
        for slot, amount in _non_gpu(assignment.allocated).items():
            free[assignment.agent_id][slot] = free[assignment.agent_id].get(slot, ZERO) - amount
            assert free[assignment.agent_id][slot] >= 0, f"{slot} over-committed"
        for grant in assignment.devices:
            key = (assignment.agent_id, grant.device_id)
            if grant.whole:
                assert key in untouched, f"{key} handed out whole while in use"
                untouched.discard(key)
            else:
                untouched.discard(key)
            shares[key] -= grant.shares
            assert shares[key] >= 0, f"{key} over-committed"
    return free, shares


def _fits_after(
    agent: AgentState,
    request: ResourceSlots,
    free: dict[str, Decimal],
    shares: dict[tuple[str, str], Decimal],
) -> bool:
    if any(free.get(s, ZERO) < v for s, v in _non_gpu(request).items()):
        return False
    devices = sorted(agent.devices, key=lambda d: d.id)
    whole = [d for d in devices if shares[agent.id, d.id] == d.capacity]
    wanted = int(request.amount(CUDA_DEVICE))
    if len(whole) < wanted:
        return False
    taken = {d.id for d in whole[:wanted]}
    left = sum((shares[agent.id, d.id] for d in devices if d.id not in taken), ZERO)
    return left >= request.amount(CUDA_SHARES)


def check_plan(
    pending: Sequence[PendingSession],
    cluster: Sequence[AgentState],
    keys: Mapping[str, PolicyUsage],
    plan: SchedulePlan,
) -> None:
    by_id = {s.id: s for s in pending}
    by_agent = {a.id: a for a in cluster}
    decided = [a.session_id for a in plan.assignments] + [p.session_id for p in plan.pending]
    assert sorted(decided) == sorted(by_id)

    charged: dict[str, list[ResourceSlots]] = defaultdict(list)
    for assignment in plan.assignments:
        session, host = by_id[assignment.session_id], by_agent[assignment.agent_id]
        assert agent_accepts(host, session)
        assert session.cluster_size == 1
        assert assignment.allocated == session.requested
        whole = [g for g in assignment.devices if g.whole]
        assert len(whole) == session.requested.amount(CUDA_DEVICE)
        fractional = sum((g.shares for g in assignment.devices if not g.whole), ZERO)
        assert fractional == session.requested.amount(CUDA_SHARES)
        charged[session.usage_key].append(assignment.allocated)

    for key, taken in charged.items():
        usage = keys[key]
        limit = usage.concurrency_limit
        assert limit is None or usage.concurrency_used + len(taken) <= limit
        total = sum(taken, ResourceSlots())
        for slot, amount in total.items():
            assert not amount or usage.occupied.amount(slot) + amount <= usage.limit_for(slot)

    _check_waiting(plan, by_id, cluster)


def _check_waiting(
    plan: SchedulePlan, by_id: Mapping[UUID, PendingSession], cluster: Sequence[AgentState]
) -> None:
    """A session refused for lack of room fits on no candidate once the pass is done, and
    each slot a "not enough X" reason names is short on every candidate."""
    free, shares = _final_state(cluster, plan)
    for waiting in plan.pending:
        session = by_id[waiting.session_id]
        candidates = [a for a in cluster if agent_accepts(a, session)]
        if not waiting.reason.startswith(("not enough", "no agent has enough")):
            continue
        assert candidates
        assert not any(_fits_after(a, session.requested, free[a.id], shares) for a in candidates)
        if waiting.reason.startswith("not enough"):
            names = waiting.reason.removeprefix("not enough ").removesuffix(" on any agent")
            for name in names.split(", "):
                one = ResourceSlots({name: session.requested[name]})
                assert not any(_fits_after(a, one, free[a.id], shares) for a in candidates)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions(), agents(), usages(), st.sampled_from(sorted(POLICIES)), st.randoms())
def test_plans_never_over_commit_and_do_not_depend_on_input_order(
    pending: list[PendingSession],
    cluster: list[AgentState],
    keys: dict[str, PolicyUsage],
    policy: str,
    rng: random.Random,
) -> None:
    plan = schedule(pending, cluster, keys, POLICIES[policy])
    check_plan(pending, cluster, keys, plan)

    shuffled_pending, shuffled_cluster = list(pending), list(cluster)
    rng.shuffle(shuffled_pending)
    rng.shuffle(shuffled_cluster)
    assert schedule(shuffled_pending, shuffled_cluster, keys, POLICIES[policy]) == plan


@settings(max_examples=100, deadline=None)
@given(agents(), st.lists(requests(), max_size=40))
def test_one_key_without_limits_fills_the_cluster_but_never_past_it(
    cluster: list[AgentState], shapes: list[ResourceSlots]
) -> None:
    pending = [
        PendingSession(sid(n), "A", OWNER, OWNER, "default", "g1", shape, T0)
        for n, shape in enumerate(shapes, start=1)
    ]
    keys = {"A": PolicyUsage()}
    plan = schedule(pending, cluster, keys, POLICIES["fifo"])
    check_plan(pending, cluster, keys, plan)
