"""Queues of tasks waiting for a worker, and the workers that serve them.

An entry's place is its ``rank`` (ties by ``id``); a priority decides where a new entry goes.
A task waits in at most one queue (unique ``task_id``). Queue lengths and worker machine
stats are kept as compact time series for the UI.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class QueueRow(Base):
    """A queue: unique by name within a domain; served by Hangar or by external workers."""

    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("domain_name", "name", name="uq_queues_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    domain_name: Mapped[str] = mapped_column(String(64))
    user_uuid: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.uuid", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list[str]]
    system_tags: Mapped[list[str]]
    meta: Mapped[dict[str, Any]]
    served_by: Mapped[str] = mapped_column(String(16), default="hangar")
    scaling_group: Mapped[str | None] = mapped_column(String(64))
    resource_preset: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime]
    last_update: Mapped[datetime]


class QueueEntryRow(Base):
    """A task waiting in a queue."""

    __tablename__ = "queue_entries"
    __table_args__ = (Index("ix_queue_entries_order", "queue_id", "rank", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue_id: Mapped[str] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(
        ForeignKey("tracking_tasks.id", ondelete="CASCADE"), unique=True
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)
    rank: Mapped[int] = mapped_column(BigInteger)
    added: Mapped[datetime]


class QueueSampleRow(Base):
    """A queue's length and wait after a change (``queues.get_queue_metrics``)."""

    __tablename__ = "queue_samples"
    __table_args__ = (Index("ix_queue_samples_queue", "queue_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue_id: Mapped[str] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    length: Mapped[int] = mapped_column(Integer)
    wait_seconds: Mapped[float] = mapped_column(Float)


class WorkerRow(Base):
    """A worker that registered or reported; it counts as gone after ``timeout_seconds``
    without news."""

    __tablename__ = "workers"
    __table_args__ = (UniqueConstraint("domain_name", "name", name="uq_workers_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    domain_name: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    user_uuid: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.uuid", ondelete="CASCADE"))
    ip: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[list[str]]
    system_tags: Mapped[list[str]]
    queues: Mapped[list[str]]
    queue_id: Mapped[str | None] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(32))
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    register_time: Mapped[datetime]
    last_activity_time: Mapped[datetime] = mapped_column(index=True)
    last_report_time: Mapped[datetime | None]


class WorkerStatRow(Base):
    """One machine-stats report of a worker: metric name -> values (one per core or GPU)."""

    __tablename__ = "worker_stats"
    __table_args__ = (Index("ix_worker_stats_worker", "worker_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    busy: Mapped[bool]  # running a task when it reported
    stats: Mapped[dict[str, Any]]


class ExecutorRunRow(Base):
    """A queued task Hangar's executor runs, and which server process runs it now: the
    lease (``lease_owner``/``lease_expires``, renewed while the process lives) is what
    another process takes over when it runs out. ``home`` names the host and data dir of
    the run's directory; ``id`` is the task's."""

    __tablename__ = "executor_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_uuid: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.uuid", ondelete="CASCADE"))
    domain_name: Mapped[str] = mapped_column(String(64))
    worker: Mapped[str] = mapped_column(String(255))
    queue_id: Mapped[str | None] = mapped_column(String(32))
    access_key: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[uuid.UUID | None]
    home: Mapped[str] = mapped_column(String(1024))
    started: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[datetime | None] = mapped_column(index=True)
