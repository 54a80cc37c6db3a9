"""Experiment tracking: projects and tasks.

A task's documents (execution, script, output, models, container, hyperparameters,
configuration, runtime) are JSON columns: clients send and read them whole, and the tracking
core merges them by its own rules. What lists filter and sort on most (owner, project,
status, name, times) are plain columns.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class TrackingProjectRow(Base):
    """A project: a path-like name ("a/b/c") unique per owner within a domain."""

    __tablename__ = "tracking_projects"
    __table_args__ = (
        UniqueConstraint("domain_name", "user_uuid", "name", name="uq_tracking_projects_name"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    domain_name: Mapped[str] = mapped_column(String(64), index=True)
    user_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(1024))
    basename: Mapped[str] = mapped_column(String(255))
    parent_id: Mapped[str | None] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]]
    system_tags: Mapped[list[str]]
    default_output_destination: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime]
    last_update: Mapped[datetime]


class TrackingTaskRow(Base):
    """A task (an experiment run) and its documents."""

    __tablename__ = "tracking_tasks"
    __table_args__ = (
        Index("ix_tracking_tasks_owner", "domain_name", "user_uuid"),
        Index("ix_tracking_tasks_project", "project_id", "name"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    domain_name: Mapped[str] = mapped_column(String(64))
    user_uuid: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.uuid", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("tracking_projects.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(1024))
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer, default=0)  # compare-and-set on writes
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_message: Mapped[str] = mapped_column(Text, default="")
    status_changed: Mapped[datetime | None]
    enqueue_status: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[str]]
    system_tags: Mapped[list[str]]
    created: Mapped[datetime]
    started: Mapped[datetime | None]
    completed: Mapped[datetime | None]
    published: Mapped[datetime | None]
    last_update: Mapped[datetime]
    last_change: Mapped[datetime]
    last_worker: Mapped[str | None] = mapped_column(String(255))
    last_worker_report: Mapped[datetime | None]
    active_duration: Mapped[int | None] = mapped_column(Integer)
    execution: Mapped[dict[str, Any]]
    script: Mapped[dict[str, Any]]
    output: Mapped[dict[str, Any]]
    models: Mapped[dict[str, Any]]
    container: Mapped[dict[str, Any]]
    hyperparams: Mapped[dict[str, Any]]
    configuration: Mapped[dict[str, Any]]
    runtime: Mapped[dict[str, Any]]


class TrackingCredentialLabelRow(Base):
    """The label a ClearML user gave one of their credentials (a keypair)."""

    __tablename__ = "tracking_credential_labels"

    access_key: Mapped[str] = mapped_column(
        ForeignKey("keypairs.access_key", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(256))
