from __future__ import annotations

import pytest

from hangar.core.identity.models import DefaultForUnspecified
from hangar.core.scheduler import (
    ClusterSize,
    ConcurrencyLimit,
    ImageSlots,
    PassState,
    PendingSession,
    PolicyUsage,
    Predicate,
    ResourceTotals,
    ScalingGroupMatch,
)
from hangar.core.scheduler.predicates import agent_accepts
from tests.unit.core.scheduler.factories import agent, session, slots, usage

LIMITED = DefaultForUnspecified.LIMITED
UNLIMITED = DefaultForUnspecified.UNLIMITED


def check(
    predicate: Predicate,
    pending: PendingSession,
    keys: dict[str, PolicyUsage] | None = None,
) -> str | None:
    agents = [agent("a1"), agent("b1", group="closed", schedulable=False)]
    state = PassState(agents, {"AK1": usage()} if keys is None else keys)
    return predicate.check(pending, state)


@pytest.mark.parametrize(
    ("predicate", "size", "reason"),
    [
        (ClusterSize(), 1, None),
        (ClusterSize(), 2, "cluster size 2 is not supported (allowed: 1 to 1)"),
        (ClusterSize(), 0, "cluster size 0 is not supported (allowed: 1 to 1)"),
        (ClusterSize(max_size=4), 4, None),
        (ClusterSize(max_size=4), 5, "cluster size 5 is not supported (allowed: 1 to 4)"),
    ],
)
def test_cluster_size(predicate: ClusterSize, size: int, reason: str | None) -> None:
    assert check(predicate, session(1, cluster_size=size)) == reason


@pytest.mark.parametrize(
    ("requested", "minimum", "maximum", "reason"),
    [
        ({"cpu": 1, "mem": "1g"}, {}, {}, None),
        ({"cpu": 1, "mem": "1g"}, {"cpu": 1, "mem": "1g"}, {"cpu": 1, "mem": "1g"}, None),
        ({"cpu": "0.5", "mem": "1g"}, {"cpu": 1}, {}, "cpu 0.5 is below the image minimum 1"),
        (
            {"cpu": 1, "mem": "2g"},
            {},
            {"mem": "1g"},
            "mem 2147483648 exceeds the image maximum 1073741824",
        ),
        ({"cpu": 1}, {"cuda.shares": "0.5"}, {}, "cuda.shares 0 is below the image minimum 0.5"),
        (
            {"cpu": 4, "cuda.device": 2},
            {},
            {"cuda.device": 1},
            "cuda.device 2 exceeds the image maximum 1",
        ),
        ({"cpu": 64}, {}, {"mem": "1g"}, None),  # a slot the maximum does not name is free
    ],
)
def test_image_slots(
    requested: dict[str, object],
    minimum: dict[str, object],
    maximum: dict[str, object],
    reason: str | None,
) -> None:
    pending = session(
        1, image_min=slots(**minimum), image_max=slots(**maximum), requested=requested
    )
    assert check(ImageSlots(), pending) == reason


@pytest.mark.parametrize(
    ("group", "reason"),
    [
        ("default", None),
        ("closed", "no schedulable agent in scaling group 'closed'"),  # its only agent is not
        ("nowhere", "no schedulable agent in scaling group 'nowhere'"),
    ],
)
def test_scaling_group_match(group: str, reason: str | None) -> None:
    assert check(ScalingGroupMatch(), session(1, group=group)) == reason


@pytest.mark.parametrize(
    ("schedulable", "agent_group", "accepted"),
    [(True, "default", True), (False, "default", False), (True, "other", False)],
)
def test_agent_accepts_its_own_group_when_schedulable(
    schedulable: bool, agent_group: str, accepted: bool
) -> None:
    candidate = agent("a1", group=agent_group, schedulable=schedulable)
    assert agent_accepts(candidate, session(1, group="default")) is accepted


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ({"AK1": usage(used=4, limit=5)}, None),
        ({"AK1": usage(used=5, limit=5)}, "concurrency limit reached (5/5)"),
        ({"AK1": usage(used=7, limit=5)}, "concurrency limit reached (7/5)"),
        ({"AK1": usage(used=10_000, limit=None)}, None),
        ({"AK1": usage(used=0, limit=0)}, "concurrency limit reached (0/0)"),
        ({"AK2": usage()}, "no resource policy known for keypair AK1"),
    ],
)
def test_keypair_concurrency(keys: dict[str, PolicyUsage], reason: str | None) -> None:
    assert check(ConcurrencyLimit(), session(1), keys) == reason


@pytest.mark.parametrize(
    ("requested", "keypair", "reason"),
    [
        ({"cpu": 2}, usage(totals={"cpu": 4}), None),
        ({"cpu": 2}, usage(occupied=slots(cpu=2), totals={"cpu": 4}), None),  # exactly at total
        (
            {"cpu": 2},
            usage(occupied=slots(cpu=3), totals={"cpu": 4}),
            "resource policy limit reached for cpu (3 used + 2 requested > 4)",
        ),
        # LIMITED: a slot the policy does not name is limited to zero
        (
            {"cpu": 1, "cuda.shares": "0.5"},
            usage(totals={"cpu": 4}, default=LIMITED),
            "resource policy limit reached for cuda.shares (0 used + 0.5 requested > 0)",
        ),
        # UNLIMITED: a slot the policy does not name has no limit
        ({"cpu": 1, "cuda.shares": 8}, usage(totals={"cpu": 4}, default=UNLIMITED), None),
        ({"cpu": 1000}, usage(totals={"cpu": "Infinity"}, default=LIMITED), None),
        ({"cpu": 1, "mem": 0}, usage(totals={"cpu": 1}, default=LIMITED), None),  # zero is free
        (
            {"cpu": 1, "mem": "2g"},
            usage(totals={"cpu": 1, "mem": "1g"}, default=LIMITED),
            "resource policy limit reached for mem (0 used + 2147483648 requested > 1073741824)",
        ),
    ],
)
def test_keypair_resource_totals(
    requested: dict[str, object], keypair: PolicyUsage, reason: str | None
) -> None:
    assert check(ResourceTotals(), session(1, requested=requested), {"AK1": keypair}) == reason


def test_resource_totals_need_a_usage_record() -> None:
    assert (
        check(ResourceTotals(), session(1, key="AK9")) == "no resource policy known for keypair AK9"
    )
