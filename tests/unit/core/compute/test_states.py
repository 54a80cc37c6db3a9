from __future__ import annotations

import pytest

from hangar.core.compute.states import ALLOWED, DEAD, HOLDS_RESOURCES, SessionStatus, can_move

S = SessionStatus


def test_every_status_has_a_row() -> None:
    assert set(ALLOWED) == set(SessionStatus)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.PENDING, S.SCHEDULED), (S.PENDING, S.CANCELLED), (S.SCHEDULED, S.PREPARING),
        (S.PREPARING, S.RUNNING), (S.RUNNING, S.TERMINATING), (S.TERMINATING, S.TERMINATED),
        (S.RUNNING, S.RESTARTING), (S.RESTARTING, S.RUNNING), (S.PREPARING, S.ERROR),
        (S.ERROR, S.TERMINATING),
    ],
)  # fmt: skip
def test_allowed_moves(old: SessionStatus, new: SessionStatus) -> None:
    assert can_move(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.PENDING, S.RUNNING), (S.RUNNING, S.PENDING), (S.TERMINATED, S.RUNNING),
        (S.CANCELLED, S.PENDING), (S.RUNNING, S.CANCELLED), (S.TERMINATING, S.RUNNING),
    ],
)  # fmt: skip
def test_forbidden_moves(old: SessionStatus, new: SessionStatus) -> None:
    assert not can_move(old, new)


def test_dead_statuses_are_final_and_hold_nothing() -> None:
    for status in DEAD:
        assert ALLOWED[status] == frozenset()
        assert status not in HOLDS_RESOURCES
    assert S.PENDING not in HOLDS_RESOURCES
