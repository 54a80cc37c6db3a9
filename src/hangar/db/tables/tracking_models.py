"""Experiment tracking: models (weights a task produced or used, and what describes them).

The documents clients send whole (design, labels, metadata, last metrics, UI cache) are JSON
columns; what lists filter and sort on (owner, project, task, name, times, readiness) are
plain columns.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class TrackingModelRow(Base):
    """A model: its weights' URI, framework, design, labels and metadata."""

    __tablename__ = "tracking_models"
    __table_args__ = (
        Index("ix_tracking_models_owner", "domain_name", "user_uuid"),
        Index("ix_tracking_models_project", "project_id", "created"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    domain_name: Mapped[str] = mapped_column(String(64))
    user_uuid: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.uuid", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("tracking_projects.id", ondelete="SET NULL")
    )
    task_id: Mapped[str | None] = mapped_column(String(32), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(1024))
    comment: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]]
    system_tags: Mapped[list[str]]
    framework: Mapped[str | None] = mapped_column(String(255))
    design: Mapped[dict[str, Any]]
    labels: Mapped[dict[str, Any]]
    uri: Mapped[str] = mapped_column(Text, default="")
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    meta: Mapped[dict[str, Any]]
    ui_cache: Mapped[dict[str, Any]]
    last_iteration: Mapped[int] = mapped_column(Integer, default=0)
    last_metrics: Mapped[dict[str, Any]]
    created: Mapped[datetime]
    last_update: Mapped[datetime]
