"""``starts_at``, dependencies and agent pinning in the pure scheduler."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from hangar.core.scheduler import (
    DependenciesMet,
    DependencyState,
    Fifo,
    NotBefore,
    PassState,
    Verdict,
    check_dependencies,
    schedule,
)
from tests.unit.core.scheduler.factories import T0, agent, session, sid, usage


def dep(n: int, status: str, result: str = "UNDEFINED") -> DependencyState:
    return DependencyState(sid(100 + n), f"dep{n}", status, result)


# Dependencies ---------------------------------------------------------------------------


def test_no_dependencies_and_all_done_are_ready() -> None:
    assert check_dependencies(()).verdict is Verdict.READY
    done = (dep(1, "TERMINATED", "SUCCESS"), dep(2, "TERMINATED"))  # batch ok, interactive
    assert check_dependencies(done).verdict is Verdict.READY
    assert check_dependencies(done).reason is None


@pytest.mark.parametrize(
    "status", ["PENDING", "SCHEDULED", "PREPARING", "RUNNING", "RESTARTING", "TERMINATING"]
)
def test_a_dependency_on_its_way_makes_it_wait(status: str) -> None:
    checked = check_dependencies((dep(1, "TERMINATED", "SUCCESS"), dep(2, status)))
    assert checked.verdict is Verdict.WAITING
    assert checked.reason == f"waiting for dependencies: dep2 (00000000) {status}"


@pytest.mark.parametrize(
    ("status", "result", "how"),
    [
        ("ERROR", "UNDEFINED", "ERROR"),
        ("CANCELLED", "UNDEFINED", "CANCELLED"),
        ("TERMINATED", "FAILURE", "TERMINATED with FAILURE"),
    ],
)
def test_a_failed_dependency_dooms_the_session(status: str, result: str, how: str) -> None:
    checked = check_dependencies((dep(1, "RUNNING"), dep(2, status, result)))
    assert checked.verdict is Verdict.FAILED
    assert checked.reason == f"dependency dep2 (00000000) ended {how}; cancelled"


def test_waiting_reason_lists_at_most_five() -> None:
    checked = check_dependencies(tuple(dep(n, "RUNNING") for n in range(7)))
    assert checked.reason is not None
    assert checked.reason.count("RUNNING") == 5 and checked.reason.endswith("and 2 more")


def test_dependencies_predicate_and_schedule() -> None:
    waiting = dataclasses.replace(session(1), dependencies=(dep(1, "RUNNING"),))
    ready = dataclasses.replace(session(2), dependencies=(dep(2, "TERMINATED", "SUCCESS"),))
    doomed = dataclasses.replace(session(3), dependencies=(dep(3, "ERROR"),))
    state = PassState([agent("a")], {"AK1": usage()})
    assert DependenciesMet().check(ready, state) is None
    assert DependenciesMet().check(session(4), state) is None
    plan = schedule([waiting, ready, doomed], [agent("a")], {"AK1": usage()}, Fifo())
    assert [a.session_id for a in plan.assignments] == [sid(2)]
    reasons = plan.reasons()
    assert reasons[sid(1)].startswith("waiting for dependencies: dep1")
    assert reasons[sid(3)].startswith("dependency dep3")


# starts_at ------------------------------------------------------------------------------


def test_not_before_holds_a_session_until_its_time() -> None:
    later = dataclasses.replace(session(1), not_before=T0 + timedelta(hours=1))
    for now, reason in (
        (T0, "waiting until 2026-01-01T01:00:00+00:00 (starts_at)"),
        (
            T0 + timedelta(minutes=59, seconds=59),
            "waiting until 2026-01-01T01:00:00+00:00 (starts_at)",
        ),
        (T0 + timedelta(hours=1), None),
        (None, None),  # no clock given: never held back
    ):
        assert NotBefore().check(later, PassState([agent("a")], {"AK1": usage()}, now)) == reason
    assert NotBefore().check(session(2), PassState([], {}, T0)) is None
    plan = schedule([later, session(2)], [agent("a")], {"AK1": usage()}, Fifo(), now=T0)
    assert [a.session_id for a in plan.assignments] == [sid(2)]
    plan = schedule([later], [agent("a")], {"AK1": usage()}, Fifo(), now=T0 + timedelta(hours=2))
    assert [a.session_id for a in plan.assignments] == [sid(1)]


# Agent pinning --------------------------------------------------------------------------


def test_a_pinned_session_runs_only_on_its_agents() -> None:
    agents = [agent("a", cpu=2), agent("b", cpu=8), agent("c", cpu=8)]
    pinned = dataclasses.replace(session(1, cpu=2), agent_ids=frozenset({"c"}))
    plan = schedule([pinned], agents, {"AK1": usage()}, Fifo())
    assert [(a.session_id, a.agent_id) for a in plan.assignments] == [(sid(1), "c")]
    # Best fit among the assigned ones: "a" is fuller than "c".
    either = dataclasses.replace(session(2, cpu=2), agent_ids=frozenset({"a", "c"}))
    plan = schedule([either], agents, {"AK1": usage()}, Fifo())
    assert plan.assignments[0].agent_id == "a"


def test_a_pinned_session_waits_for_room_on_its_agents_only() -> None:
    agents = [agent("a", cpu=2), agent("b", cpu=8)]
    pinned = dataclasses.replace(session(1, cpu=4), agent_ids=frozenset({"a"}))
    plan = schedule([pinned, session(2, cpu=4)], agents, {"AK1": usage()}, Fifo())
    assert plan.reasons() == {sid(1): "not enough cpu on the assigned agents"}
    # The pinned failure is not remembered for the group: the same shape still fits on "b".
    assert [(a.session_id, a.agent_id) for a in plan.assignments] == [(sid(2), "b")]


def test_a_session_pinned_to_absent_agents_says_so() -> None:
    agents = [agent("a"), agent("x", group="other"), agent("off", schedulable=False)]
    for ids in ({"x"}, {"off"}, {"gone"}):
        pinned = dataclasses.replace(session(1), agent_ids=frozenset(ids))
        plan = schedule([pinned], agents, {"AK1": usage()}, Fifo())
        assert plan.reasons() == {
            sid(1): f"none of the assigned agents ({next(iter(ids))}) is schedulable in "
            "scaling group 'default'"
        }
