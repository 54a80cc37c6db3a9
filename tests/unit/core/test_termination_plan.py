"""Which server process finishes a termination (a pure decision)."""

from __future__ import annotations

from hangar.core.compute.termination import TerminationPlan, plan_termination


def test_the_process_holding_the_agent_finishes_it_itself() -> None:
    assert plan_termination("i-a", {"i-a"}, alive_elsewhere=True) is TerminationPlan.HERE
    assert plan_termination(None, set(), alive_elsewhere=False) is TerminationPlan.HERE


def test_an_agent_held_by_another_process_gets_a_hand_off() -> None:
    assert plan_termination("i-a", {"i-b"}, alive_elsewhere=True) is TerminationPlan.HAND_OFF


def test_a_lost_agent_is_not_waited_for() -> None:
    plan = plan_termination("i-a", set(), alive_elsewhere=False)
    assert plan is TerminationPlan.WITHOUT_AGENT
