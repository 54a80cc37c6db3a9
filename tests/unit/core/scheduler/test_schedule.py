"""One pass: later decisions see earlier ones; bad input is refused; the plan is deterministic."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Sequence
from decimal import Decimal

import pytest

from hangar.core.scheduler import (
    POLICIES,
    AgentState,
    Fifo,
    GpuDevice,
    PendingSession,
    ResourceSlots,
    schedule,
)
from hangar.core.scheduler.ledger import PassView
from tests.unit.core.scheduler.factories import agent, session, sid, slots, usage


def test_later_decisions_see_capacity_taken_earlier() -> None:
    plan = schedule(
        [session(1, cpu=6), session(2, cpu=6)], [agent("a", cpu=8)], {"AK1": usage()}, Fifo()
    )
    assert [a.session_id for a in plan.assignments] == [sid(1)]
    assert plan.reasons() == {sid(2): "not enough cpu on any agent"}


def test_concurrency_is_charged_within_the_pass() -> None:
    pending = [session(n) for n in (1, 2, 3)]
    plan = schedule(pending, [agent("a")], {"AK1": usage(used=1, limit=3)}, Fifo())
    assert [a.session_id for a in plan.assignments] == [sid(1), sid(2)]
    assert plan.reasons() == {sid(3): "concurrency limit reached (3/3)"}


def test_resource_totals_are_charged_within_the_pass() -> None:
    pending = [session(n, cpu=2, mem="1g") for n in (1, 2, 3)]
    plan = schedule(pending, [agent("a")], {"AK1": usage(totals={"cpu": 5})}, Fifo())
    assert len(plan.assignments) == 2
    assert plan.reasons() == {
        sid(3): "resource policy limit reached for cpu (4 used + 2 requested > 5)"
    }


def test_a_blocked_key_does_not_hold_up_other_keys() -> None:
    pending = [session(1, key="A"), session(2, key="A"), session(3, key="B")]
    keys = {"A": usage(limit=1), "B": usage()}
    plan = schedule(pending, [agent("a")], keys, Fifo())
    assert [a.session_id for a in plan.assignments] == [sid(1), sid(3)]


def test_a_session_without_usage_waits() -> None:
    plan = schedule([session(1, key="ghost")], [agent("a")], {}, Fifo())
    assert plan.reasons() == {sid(1): "no resource policy known for keypair ghost"}


def test_predicates_come_before_placement() -> None:
    pending = [session(1, cluster_size=2, cpu=999)]
    plan = schedule(pending, [agent("a")], {"AK1": usage()}, Fifo())
    assert plan.reasons()[sid(1)].startswith("cluster size 2")


def test_empty_inputs() -> None:
    plan = schedule([], [], {}, Fifo())
    assert plan.assignments == () and plan.pending == ()
    plan = schedule([session(1)], [], {"AK1": usage()}, Fifo())
    assert plan.reasons() == {sid(1): "no schedulable agent in scaling group 'default'"}


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="session"):
        schedule([session(1), session(1)], [agent("a")], {"AK1": usage()}, Fifo())
    with pytest.raises(ValueError, match="agent"):
        schedule([session(1)], [agent("a"), agent("a")], {"AK1": usage()}, Fifo())


def test_gpu_capacity_comes_from_devices_only() -> None:
    with pytest.raises(ValueError, match="devices"):
        AgentState("a", "default", slots(cpu=1, cuda_device=1))
    with pytest.raises(ValueError, match="duplicate device"):
        AgentState("a", "default", slots(cpu=1), devices=(GpuDevice("d"), GpuDevice("d")))


def test_fractional_cuda_device_requests_are_refused() -> None:
    half_device = ResourceSlots({"cpu": Decimal(1), "cuda.device": Decimal("1.5")})
    with pytest.raises(ValueError, match="whole"):
        dataclasses.replace(session(1), requested=half_device)


class _Twice:
    name = "twice"

    def order(self, pending: Sequence[PendingSession], view: PassView) -> Iterator[PendingSession]:
        yield pending[0]
        yield pending[0]


def test_a_policy_must_yield_every_session_once() -> None:
    with pytest.raises(ValueError, match="exactly once"):
        schedule([session(1), session(2)], [agent("a")], {"AK1": usage()}, _Twice())


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_same_input_in_any_order_gives_the_same_plan(name: str) -> None:
    rng = random.Random(5)
    agents = [
        agent(f"a{i}", cpu=rng.choice((4, 8)), gpus=(0,) * rng.choice((0, 2))) for i in range(8)
    ]
    pending = [
        session(
            n,
            key=rng.choice("ABC"),
            at=rng.randrange(5),
            cpu=rng.choice((1, 2, 3)),
            mem="1g",
            cuda_shares="0.5" if n % 3 == 0 else 0,
        )
        for n in range(1, 40)
    ]
    keys = {k: usage(limit=8) for k in "ABC"}
    first = schedule(pending, agents, keys, POLICIES[name])
    for _ in range(3):
        rng.shuffle(pending)
        rng.shuffle(agents)
        assert schedule(pending, agents, dict(reversed(keys.items())), POLICIES[name]) == first
