"""A pending stop request ("stopping") outlives every move to in_progress and nothing else."""

from __future__ import annotations

import pytest

from hangar.core.tracking.tasks.states import STOPPING, TaskStatus, message_of

S = TaskStatus


@pytest.mark.parametrize("old", [S.QUEUED, S.IN_PROGRESS])
@pytest.mark.parametrize("message", ["", "pulled by agent", "Changed by clearml-agent w:0"])
def test_a_start_keeps_a_pending_stop(old: TaskStatus, message: str) -> None:
    assert message_of(old, STOPPING, S.IN_PROGRESS, message) == STOPPING


@pytest.mark.parametrize("new", [S.STOPPED, S.FAILED, S.COMPLETED, S.CREATED, S.QUEUED])
def test_any_other_move_writes_its_own_message(new: TaskStatus) -> None:
    assert message_of(S.IN_PROGRESS, STOPPING, new, "done") == "done"


def test_without_a_stop_request_the_callers_message_is_written() -> None:
    assert message_of(S.QUEUED, "", S.IN_PROGRESS, "pulled by agent") == "pulled by agent"
    assert message_of(S.STOPPED, STOPPING, S.IN_PROGRESS, "") == ""  # a new run
