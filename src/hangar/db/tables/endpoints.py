"""Serverless endpoints, their workers (each over a compute session) and the workers' logs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class EndpointRow(Base):
    """An endpoint of ``owner_uuid``. ``status`` is the endpoint's own (the reconcile loop
    moves it); ``workers`` is the count asked for, ``target`` the count wanted now
    (autoscaling); ``generation`` grows with each spec change (rolling update);
    ``failures`` counts workers that failed in a row (reset by one that answers);
    ``owner`` keeps who created it, to start workers as them. Deleted rows keep
    ``deleted_at`` (their workers' sessions still carry their id for billing)."""

    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]]
    owner: Mapped[dict[str, Any]]
    registry_auth_id: Mapped[int | None] = mapped_column(Integer, index=True)
    webhook: Mapped[str | None] = mapped_column(String(512))
    domain: Mapped[str] = mapped_column(String(32), unique=True)
    workers: Mapped[int]
    target: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    status_info: Mapped[str | None] = mapped_column(Text)
    generation: Mapped[int]
    failures: Mapped[int]
    next_start_at: Mapped[datetime | None]  # back-off: no new worker before this
    active_at: Mapped[datetime | None]  # last load seen (scale to zero after idle)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[datetime | None]


class EndpointWorkerRow(Base):
    """A worker: its endpoint's spec ``generation`` on a compute session (``session_id``,
    None until written). ``log_offset`` is how many bytes of its output were logged."""

    __tablename__ = "endpoint_workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("endpoints.id", ondelete="CASCADE"), index=True
    )
    generation: Mapped[int]
    session_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    agent_id: Mapped[str | None] = mapped_column(String(64))  # where it runs, once RUNNING
    scaling_group: Mapped[str] = mapped_column(String(64))
    gpu_type: Mapped[str] = mapped_column(String(64))
    gpu_count: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    status_info: Mapped[str | None] = mapped_column(Text)
    log_offset: Mapped[int]
    created_at: Mapped[datetime]
    running_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class EndpointWorkerLogRow(Base):
    """One line of a worker's output: when it came and its byte offset in the stream."""

    __tablename__ = "endpoint_worker_logs"
    __table_args__ = (Index("ix_endpoint_worker_logs_position", "worker_id", "time", "offset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("endpoint_workers.id", ondelete="CASCADE"))
    time: Mapped[datetime]
    offset: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
