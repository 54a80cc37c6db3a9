"""The task status table: every allowed move, every refused one, force, and the field rules."""

from __future__ import annotations

import pytest

from hangar.core.tracking.tasks.states import (
    MOVES,
    InvalidStatusChange,
    TaskStatus,
    check_move,
    may_edit,
    may_move,
    may_update_fields,
)

S = TaskStatus
ALLOWED = {
    (S.CREATED, S.QUEUED), (S.CREATED, S.IN_PROGRESS),
    (S.QUEUED, S.CREATED), (S.QUEUED, S.IN_PROGRESS), (S.QUEUED, S.STOPPED),
    (S.IN_PROGRESS, S.STOPPED), (S.IN_PROGRESS, S.FAILED), (S.IN_PROGRESS, S.CREATED),
    (S.IN_PROGRESS, S.COMPLETED),
    *((S.STOPPED, to) for to in (S.CLOSED, S.CREATED, S.FAILED, S.QUEUED, S.IN_PROGRESS,
                                 S.PUBLISHED, S.PUBLISHING, S.COMPLETED)),
    *((S.CLOSED, to) for to in (S.CREATED, S.FAILED, S.PUBLISHED, S.PUBLISHING, S.STOPPED)),
    *((S.FAILED, to) for to in (S.CREATED, S.STOPPED, S.PUBLISHED, S.QUEUED)),
    (S.PUBLISHING, S.PUBLISHED),
    (S.COMPLETED, S.PUBLISHED), (S.COMPLETED, S.IN_PROGRESS), (S.COMPLETED, S.CREATED),
}  # fmt: skip


@pytest.mark.parametrize("old", list(S))
@pytest.mark.parametrize("new", list(S))
def test_moves_follow_the_table(old: TaskStatus, new: TaskStatus) -> None:
    expected = old == new or (old, new) in ALLOWED
    assert may_move(old, new) is expected
    assert may_move(old, new, force=True)
    if expected:
        check_move(old, new)
    else:
        with pytest.raises(InvalidStatusChange, match=f"{old.value} -> {new.value}"):
            check_move(old, new)


def test_published_is_final_and_every_status_has_a_row() -> None:
    assert set(MOVES) == set(S)
    assert not MOVES[S.PUBLISHED]
    assert not any(may_move(S.PUBLISHED, new) for new in S if new is not S.PUBLISHED)


def test_edit_and_field_rules() -> None:
    assert may_edit(S.CREATED, force=False)
    assert not may_edit(S.IN_PROGRESS, force=False)
    assert all(may_edit(status, force=True) for status in S)
    assert may_update_fields(S.CREATED, force=False)
    assert not may_update_fields(S.IN_PROGRESS, force=False)
    assert may_update_fields(S.IN_PROGRESS, force=True)
    assert not may_update_fields(S.COMPLETED, force=True)
