"""The restart policy's decisions: when a batch command runs again, and after how long."""

from __future__ import annotations

import pytest

from hangar.core.compute.models import RestartPolicy
from hangar.core.compute.restarts import (
    RestartRules,
    check_restart_policy,
    restart_delay,
    restart_due,
)
from hangar.core.compute.states import SessionType
from hangar.core.errors import InvalidValue

P = RestartPolicy


@pytest.mark.parametrize(
    ("policy", "exit_code", "due"),
    [
        (P.NEVER, 0, False), (P.NEVER, 1, False), (P.NEVER, None, False),
        (P.ON_FAILURE, 0, False), (P.ON_FAILURE, 2, True), (P.ON_FAILURE, None, True),
        (P.ALWAYS, 0, True), (P.ALWAYS, 137, True), (P.ALWAYS, None, True),
    ],
)  # fmt: skip
def test_restart_due(policy: RestartPolicy, exit_code: int | None, due: bool) -> None:
    assert restart_due(policy, exit_code) is due


def test_back_off_doubles_up_to_its_ceiling() -> None:
    rules = RestartRules(backoff=0.5, max_backoff=5.0)
    assert [restart_delay(rules, n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert restart_delay(rules, 10_000) == 5.0  # no overflow after days of restarts
    assert restart_delay(RestartRules(backoff=0), 3) == 0


def test_only_batch_sessions_take_a_policy() -> None:
    check_restart_policy(P.ALWAYS, SessionType.BATCH)
    check_restart_policy(P.NEVER, SessionType.INTERACTIVE)
    with pytest.raises(InvalidValue, match="restart_policy"):
        check_restart_policy(P.ON_FAILURE, SessionType.INTERACTIVE)
