"""Background task persistence: the only module that touches their table. Final moves are
compare-and-set on RUNNING, so a task finishes once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, update

from hangar.core.bgtasks.states import TaskState, TaskStatus
from hangar.db.engine import DbSession
from hangar.db.tables.bgtasks import BackgroundTaskRow


def _state(row: BackgroundTaskRow) -> TaskState:
    return TaskState(
        row.id, row.kind, row.owner, TaskStatus(row.status), int(row.current_progress),
        int(row.total_progress), row.message, row.updated_at,
    )  # fmt: skip


def add(db: DbSession, kind: str, owner: str, total: int, message: str, now: datetime) -> TaskState:
    """A new RUNNING task (added to ``db``; the caller commits)."""
    row = BackgroundTaskRow(
        id=uuid.uuid4(), kind=kind, owner=owner, status=TaskStatus.RUNNING.value,
        current_progress=0, total_progress=total, message=message, created_at=now,
        updated_at=now,
    )  # fmt: skip
    db.add(row)
    return _state(row)


async def get(db: DbSession, task_id: uuid.UUID) -> TaskState | None:
    row = await db.get(BackgroundTaskRow, task_id)
    return _state(row) if row is not None else None


async def write_progress(db: DbSession, state: TaskState) -> None:
    """Record the progress of a task that is still RUNNING (a finished one is left)."""
    await db.execute(
        update(BackgroundTaskRow)
        .where(
            BackgroundTaskRow.id == state.id,
            BackgroundTaskRow.status == TaskStatus.RUNNING.value,
        )
        .values(
            current_progress=state.current,
            total_progress=state.total,
            message=state.message,
            updated_at=state.updated_at,
        )  # fmt: skip
    )


async def finish(db: DbSession, final: TaskState) -> None:
    """Move a RUNNING task to ``final`` (its status, progress and message)."""
    await db.execute(
        update(BackgroundTaskRow)
        .where(
            BackgroundTaskRow.id == final.id,
            BackgroundTaskRow.status == TaskStatus.RUNNING.value,
        )
        .values(
            status=final.status.value,
            current_progress=final.current,
            total_progress=final.total,
            message=final.message,
            updated_at=final.updated_at,
        )  # fmt: skip
    )


async def cancel_running(db: DbSession, keep: list[uuid.UUID], message: str, now: datetime) -> int:
    """CANCEL every RUNNING task but those in ``keep``; returns how many."""
    result = await db.execute(
        update(BackgroundTaskRow)
        .where(
            BackgroundTaskRow.status == TaskStatus.RUNNING.value,
            BackgroundTaskRow.id.not_in(keep),
        )
        .values(status=TaskStatus.CANCELLED.value, message=message, updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_finished_before(db: DbSession, cutoff: datetime) -> int:
    """Forget finished tasks last changed before ``cutoff``; returns how many."""
    result = await db.execute(
        delete(BackgroundTaskRow).where(
            BackgroundTaskRow.status != TaskStatus.RUNNING.value,
            BackgroundTaskRow.updated_at < cutoff,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
