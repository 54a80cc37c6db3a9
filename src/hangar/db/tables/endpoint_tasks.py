"""Tasks of QUEUE-mode serverless endpoints: what was submitted, where it went, its result
and the delivery of that result to a webhook."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class EndpointTaskRow(Base):
    """A task of endpoint ``endpoint_id``, FIFO by ``id``. ``key`` is the caller's taskId
    (unique per endpoint). While a server process sends it to worker ``worker_id`` it
    holds the lease; ``sends`` counts the times it was handed to a worker (one re-queue
    after a worker died). ``notify_at`` is when the next webhook attempt is due (None:
    none pending); the lease also guards a delivery in progress."""

    __tablename__ = "endpoint_tasks"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "key", name="uq_endpoint_tasks_endpoint_key"),
        Index("ix_endpoint_tasks_queue", "endpoint_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    input: Mapped[str] = mapped_column(Text)  # JSON text, sent to the worker as it is
    headers: Mapped[dict[str, Any]]
    worker_port: Mapped[int]
    process_uri: Mapped[str] = mapped_column(String(255))
    webhook: Mapped[str | None] = mapped_column(String(512))
    webhook_key: Mapped[str | None] = mapped_column(String(255))
    worker_id: Mapped[int | None]
    worker_url: Mapped[str | None] = mapped_column(String(512))
    sends: Mapped[int]
    output: Mapped[str | None] = mapped_column(Text)  # JSON text of the worker's answer
    error: Mapped[str | None] = mapped_column(Text)
    delivery_status: Mapped[str] = mapped_column(String(24))
    delivery_attempts: Mapped[int]
    delivered_at: Mapped[datetime | None]
    notify_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[datetime | None]
