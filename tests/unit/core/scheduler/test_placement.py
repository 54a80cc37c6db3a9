"""Agent choice: best fit, GPU lanes, whole devices and fractional shares."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hangar.core.scheduler import (
    AgentState,
    Assignment,
    DeviceAllocation,
    Fifo,
    PendingSession,
    SchedulePlan,
    schedule,
)
from tests.unit.core.scheduler.factories import agent, session, usage

HALF = Decimal("0.5")


def run(pending: list[PendingSession], agents: list[AgentState]) -> SchedulePlan:
    keys = {s.usage_key: usage() for s in pending}
    return schedule(pending, agents, keys, Fifo())


def only(plan: SchedulePlan) -> Assignment:
    assert not plan.pending, plan.pending
    (assignment,) = plan.assignments
    return assignment


@pytest.mark.parametrize(
    ("cpu", "mem", "chosen"),
    [
        (2, "2g", "b-small"),  # fits both: the one left fullest wins
        (6, "2g", "a-large"),  # only the large one has 6 cores free
        (2, "20g", "a-large"),  # only the large one has 20 GiB free
    ],
)
def test_best_fit_picks_the_agent_with_least_room_left(cpu: int, mem: str, chosen: str) -> None:
    agents = [
        agent("a-large", cpu=8, mem="32g"),
        agent("b-small", cpu=8, mem="32g", used_cpu=4, used_mem="16g"),
    ]
    assert only(run([session(1, cpu=cpu, mem=mem)], agents)).agent_id == chosen


def test_ties_go_to_the_lowest_agent_id() -> None:
    agents = [agent("b"), agent("c"), agent("a")]
    assert only(run([session(1)], agents)).agent_id == "a"


def test_a_pass_fills_one_agent_before_opening_the_next() -> None:
    agents = [agent("a", cpu=4, mem="4g"), agent("b", cpu=4, mem="4g")]
    plan = run([session(n, cpu=1, mem="1g") for n in range(1, 6)], agents)
    assert [a.agent_id for a in plan.assignments] == ["a", "a", "a", "a", "b"]


def test_cpu_sessions_keep_off_gpu_agents_while_cpu_agents_have_room() -> None:
    agents = [agent("gpu", cpu=8, mem="8g", used_cpu=7, gpus=(0,)), agent("cpu", cpu=64)]
    assert only(run([session(1, cpu=1, mem="1g")], agents)).agent_id == "cpu"


def test_cpu_sessions_use_gpu_agents_when_nothing_else_fits() -> None:
    agents = [agent("gpu", cpu=8, gpus=(0,)), agent("cpu", cpu=2)]
    assert only(run([session(1, cpu=4, mem="1g")], agents)).agent_id == "gpu"


def test_whole_devices_come_from_devices_with_nothing_allocated() -> None:
    agents = [agent("g", gpus=(HALF, 0, 0, 0))]
    grant = only(run([session(1, cpu=1, mem="1g", cuda_device=2)], agents))
    assert grant.devices == (
        DeviceAllocation("cuda1", Decimal(1), True),
        DeviceAllocation("cuda2", Decimal(1), True),
    )
    assert grant.allocated.to_wire() == {"cpu": "1", "mem": "1073741824", "cuda.device": "2"}


def test_partly_used_devices_cannot_be_handed_out_whole() -> None:
    agents = [agent("g", gpus=(HALF, HALF, HALF, HALF))]  # 2 shares free, no whole device
    plan = run([session(1, cpu=1, mem="1g", cuda_device=1)], agents)
    assert plan.reasons() == {session(1).id: "not enough cuda.device on any agent"}


def test_fractional_shares_fill_partly_used_devices_first() -> None:
    agents = [agent("g", gpus=(0, Decimal("0.75"), HALF, 0))]
    plan = run(
        [
            session(1, cpu=1, mem="1g", cuda_shares="0.25"),  # cuda1 has exactly 0.25 left
            session(2, cpu=1, mem="1g", cuda_shares="0.5"),  # cuda2 has exactly 0.5 left
            session(3, cpu=1, mem="1g", cuda_shares="0.5"),  # only untouched devices remain
        ],
        agents,
    )
    assert [a.devices for a in plan.assignments] == [
        (DeviceAllocation("cuda1", Decimal("0.25"), False),),
        (DeviceAllocation("cuda2", HALF, False),),
        (DeviceAllocation("cuda0", HALF, False),),
    ]


def test_fractional_shares_prefer_agents_whose_devices_are_partly_used() -> None:
    agents = [agent("a-fresh", gpus=(0, 0)), agent("b-used", gpus=(HALF, 0))]
    grant = only(run([session(1, cpu=1, mem="1g", cuda_shares="0.5")], agents))
    assert (grant.agent_id, grant.devices) == (
        "b-used",
        (DeviceAllocation("cuda0", HALF, False),),
    )


def test_shares_larger_than_one_device_span_devices() -> None:
    agents = [agent("g", gpus=(0, 0, HALF))]
    grant = only(run([session(1, cpu=1, mem="1g", cuda_shares="1.5")], agents))
    assert grant.devices == (
        DeviceAllocation("cuda0", Decimal(1), False),
        DeviceAllocation("cuda2", HALF, False),
    )


def test_packing_shares_keeps_whole_devices_for_whole_requests() -> None:
    agents = [agent("g", gpus=(0, 0))]
    plan = run(
        [
            session(1, cpu=1, mem="1g", cuda_shares="0.5"),
            session(2, cpu=1, mem="1g", cuda_shares="0.5"),
            session(3, cpu=1, mem="1g", cuda_device=1),
        ],
        agents,
    )
    assert not plan.pending
    assert [d.device_id for a in plan.assignments for d in a.devices] == ["cuda0", "cuda0", "cuda1"]


def test_whole_devices_and_shares_in_one_request() -> None:
    agents = [agent("g", gpus=(HALF, 0, 0))]
    grant = only(run([session(1, cpu=1, mem="1g", cuda_device=1, cuda_shares="0.5")], agents))
    assert grant.devices == (
        DeviceAllocation("cuda1", Decimal(1), True),
        DeviceAllocation("cuda0", HALF, False),
    )


def test_whole_devices_and_shares_in_one_request_that_cannot_fit() -> None:
    agents = [agent("g", gpus=(0, 0))]  # two whole devices, but then no share is left
    plan = run([session(1, cpu=1, mem="1g", cuda_device=2, cuda_shares="0.5")], agents)
    assert plan.reasons() == {
        session(1).id: "no agent has enough cpu, cuda.device, cuda.shares, mem at the same time"
    }


@pytest.mark.parametrize(
    ("requested", "reason"),
    [
        ({"cpu": 16, "mem": "1g"}, "not enough cpu on any agent"),
        ({"cpu": 16, "mem": "64g"}, "not enough cpu, mem on any agent"),
        ({"cpu": 1, "cuda.shares": "2.5"}, "not enough cuda.shares on any agent"),
        ({"cpu": 1, "cuda.device": 3}, "not enough cuda.device on any agent"),
        ({"cpu": 1, "tpu.device": 1}, "not enough tpu.device on any agent"),
        ({"cpu": 6, "mem": "24g"}, "no agent has enough cpu, mem at the same time"),
    ],
)
def test_a_session_that_fits_nowhere_stays_pending_with_a_reason(
    requested: dict[str, object], reason: str
) -> None:
    agents = [
        agent("cpu-rich", cpu=8, mem="8g"),
        agent("mem-rich", cpu=2, mem="32g"),
        agent("gpu", cpu=4, mem="8g", gpus=(0, 0)),
    ]
    plan = run([session(1, requested=requested)], agents)
    assert not plan.assignments
    assert plan.reasons() == {session(1).id: reason}


def test_sessions_never_land_on_unschedulable_agents_or_other_groups() -> None:
    agents = [
        agent("closed", schedulable=False, cpu=64),
        agent("elsewhere", group="other", cpu=64),
        agent("open", cpu=2),
    ]
    plan = run([session(1, cpu=2), session(2, cpu=2)], agents)
    assert [a.agent_id for a in plan.assignments] == ["open"]
    assert plan.reasons() == {session(2).id: "not enough cpu on any agent"}


def test_a_remembered_failure_covers_larger_shapes_only() -> None:
    agents = [agent("a", cpu=4, mem="8g")]
    plan = run(
        [
            session(1, cpu=4, mem="4g"),
            session(2, cpu=1, mem="1g"),  # fails: cpu is gone
            session(3, cpu=2, mem="2g"),  # larger than a failed shape
            session(4, cpu=0, mem="1g"),  # smaller: still fits
        ],
        agents,
    )
    assert [a.session_id.int for a in plan.assignments] == [1, 4]
    assert plan.reasons() == {
        session(2).id: "not enough cpu on any agent",
        session(3).id: "not enough cpu on any agent",
    }


def test_an_over_reported_agent_takes_nothing_more() -> None:
    agents = [agent("a", cpu=4, used_cpu=6)]
    plan = run([session(1, cpu=1, mem="1g"), session(2, mem="1g", cpu=0)], agents)
    assert [a.session_id.int for a in plan.assignments] == [2]
