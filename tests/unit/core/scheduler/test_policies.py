from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.core.errors import NotFound
from hangar.core.scheduler import (
    POLICIES,
    Drf,
    Fifo,
    Lifo,
    PassState,
    PendingSession,
    Policy,
    PolicyUsage,
    get_policy,
    schedule,
)
from hangar.core.scheduler.policies import dominant_share
from tests.unit.core.scheduler.factories import agent, session, sid, slots, usage


def order_of(
    policy: Policy, pending: list[PendingSession], keys: dict[str, PolicyUsage] | None = None
) -> list[int]:
    state = PassState([agent("a1", cpu=100, mem="100g")], keys or {"AK1": usage()})
    return [s.id.int for s in policy.order(pending, state)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (Fifo(), [4, 1, 2, 3, 5]),  # priority first, then oldest, then id on equal times
        (Lifo(), [4, 5, 3, 2, 1]),  # priority first, then newest, then id descending
    ],
)
def test_fifo_and_lifo_order(policy: Policy, expected: list[int]) -> None:
    pending = [
        session(3, at=20),
        session(1, at=10),
        session(5, at=30),
        session(2, at=20),
        session(4, at=40, priority=1),
    ]
    assert order_of(policy, pending) == expected


def test_drf_worked_example() -> None:
    """The DRF paper's example: 9 CPUs, 18 GB; A runs <1 CPU, 4 GB>, B runs <3 CPU, 1 GB>.

    Shares (cpu, mem) after each pick: A1 (1/9, 4/18) -> B1 (3/9, 1/18) -> A2 (2/9, 8/18)
    -> B2 (6/9, 2/18) -> A3 (3/9, 12/18); cpu is then used up (9/9). A gets 3, B gets 2,
    both end with a dominant share of 2/3.
    """
    cluster = [agent("a1", cpu=9, mem="18g")]
    pending = [session(n, key="A", cpu=1, mem="4g") for n in (1, 3, 5, 7)]
    pending += [session(n, key="B", cpu=3, mem="1g") for n in (2, 4, 6, 8)]
    plan = schedule(pending, cluster, {"A": usage(), "B": usage()}, Drf())
    assert [(a.usage_key, a.session_id.int) for a in plan.assignments] == [
        ("A", 1),
        ("B", 2),
        ("A", 3),
        ("B", 4),
        ("A", 5),
    ]
    assert {p.reason for p in plan.pending} == {"not enough cpu on any agent"}


def test_drf_serves_the_key_with_the_lowest_dominant_share_first() -> None:
    keys = {
        "heavy": usage(occupied=slots(cpu=50)),  # 50/100 cpu
        "light": usage(occupied=slots(mem="10g")),  # 10/100 GiB
        "idle": usage(),
    }
    pending = [
        session(1, key="heavy"),
        session(2, key="light"),
        session(3, key="idle"),
        session(4, key="heavy"),
    ]
    assert order_of(Drf(), pending, keys) == [3, 2, 1, 4]


def test_drf_ties_go_to_the_key_with_the_older_session() -> None:
    keys = {"A": usage(), "B": usage()}
    pending = [session(2, key="A"), session(1, key="B"), session(3, key="B")]
    state = PassState([agent("a1")], keys)
    # No decisions are made between yields here, so shares stay 0: oldest head first each time.
    assert [s.id.int for s in Drf().order(pending, state)] == [1, 2, 3]


def test_drf_serves_higher_priority_first() -> None:
    keys = {"A": usage(occupied=slots(cpu=90)), "B": usage()}
    pending = [session(1, key="B"), session(2, key="A", priority=5)]
    assert order_of(Drf(), pending, keys) == [2, 1]


def test_dominant_share_is_the_largest_fraction_of_capacity() -> None:
    state = PassState([agent("a1", cpu=10, mem="40g", gpus=(0, 0))], {"AK1": usage()})
    total = state.total_capacity()
    assert total == slots(cpu=10, mem="40g", cuda_device=2, cuda_shares=2)
    ledger = state.ledger("AK1")
    assert ledger is not None
    ledger.charge(slots(cpu=1, mem="20g"))
    assert dominant_share("AK1", state, total) == Decimal("0.5")
    ledger.charge(slots(cuda_shares="1.5"))
    assert dominant_share("AK1", state, total) == Decimal("0.75")
    assert dominant_share("unknown", state, total) == 0


def test_policies_by_name() -> None:
    assert sorted(POLICIES) == ["drf", "fifo", "lifo"]
    assert isinstance(get_policy("FIFO"), Fifo)
    assert isinstance(get_policy("lifo"), Lifo)
    with pytest.raises(NotFound):
        get_policy("round-robin")


pending_lists = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 5), st.integers(0, 2)),
    max_size=30,
).map(
    lambda rows: [
        session(n + 1, key=key, at=at, priority=prio) for n, (key, at, prio) in enumerate(rows)
    ]
)


@given(pending_lists, st.sampled_from(sorted(POLICIES)))
def test_every_policy_yields_each_session_once(pending: list[PendingSession], name: str) -> None:
    keys = {k: usage() for k in "ABC"}
    ordered = order_of(POLICIES[name], pending, keys)
    assert sorted(ordered) == sorted(s.id.int for s in pending)
    priorities = {s.id.int: s.priority for s in pending}
    assert [priorities[n] for n in ordered] == sorted(priorities.values(), reverse=True)


@given(pending_lists)
def test_fifo_is_oldest_first_within_a_priority(pending: list[PendingSession]) -> None:
    ordered = order_of(Fifo(), pending)
    by_id = {s.id: s for s in pending}
    keys = [(-by_id[sid(n)].priority, by_id[sid(n)].created_at) for n in ordered]
    assert keys == sorted(keys)
