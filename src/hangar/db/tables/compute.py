"""Compute sessions and the dependencies between them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import LIVE_STATUSES_SQL, Base


class SessionRow(Base):
    """A compute session with its single (main) kernel: kernel id == session id."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index(
            "uq_sessions_live_name",
            "user_uuid",
            "name",
            unique=True,
            sqlite_where=text(LIVE_STATUSES_SQL),
            postgresql_where=text(LIVE_STATUSES_SQL),
        ),
        Index("ix_sessions_status_created", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # The owner is the user (in a domain and group); the credential it was created with is
    # data for the faces (the Backend.AI face shows and filters by the keypair's access key).
    access_key: Mapped[str | None] = mapped_column(ForeignKey("keypairs.access_key"), index=True)
    credential_kind: Mapped[str] = mapped_column(String(32), default="bai_keypair")
    credential_id: Mapped[str] = mapped_column(String(128))
    user_uuid: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.uuid"), index=True)
    domain_name: Mapped[str] = mapped_column(ForeignKey("domains.name", onupdate="CASCADE"))
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id"))
    scaling_group: Mapped[str] = mapped_column(
        ForeignKey("scaling_groups.name", onupdate="CASCADE")
    )
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id"))
    image_ref: Mapped[str] = mapped_column(String(512))
    session_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    status_info: Mapped[str | None] = mapped_column(String(256))
    status_data: Mapped[dict[str, Any] | None] = mapped_column()
    status_history: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status_changed: Mapped[datetime]
    result: Mapped[str] = mapped_column(String(16), default="UNDEFINED")
    requested_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occupied_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    device_allocations: Mapped[list[Any]] = mapped_column(default=list)
    environ: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mounts: Mapped[list[Any]] = mapped_column(default=list)
    bootstrap_script: Mapped[str | None] = mapped_column(Text)
    startup_command: Mapped[str | None] = mapped_column(Text)
    tag: Mapped[str | None] = mapped_column(String(256))
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    cluster_size: Mapped[int] = mapped_column(Integer, default=1)
    cluster_mode: Mapped[str] = mapped_column(String(16), default="single-node")
    created_at: Mapped[datetime]
    starts_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]
    num_queries: Mapped[int] = mapped_column(BigInteger, default=0)
    last_stat: Mapped[dict[str, Any] | None] = mapped_column()
    resource_opts: Mapped[dict[str, Any] | None] = mapped_column()
    agent_list: Mapped[list[str] | None] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    preopen_ports: Mapped[list[int] | None] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql")
    )
    # Who asked for the session and why (core.compute.models.Origin); its restart policy.
    origin_kind: Mapped[str] = mapped_column(String(32), default="backendai-request")
    origin_ref: Mapped[str | None] = mapped_column(String(256))
    restart_policy: Mapped[str] = mapped_column(String(16), default="never")
    # Who acts on the session now (a server process) and until when: see core/reconcile.py.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[datetime | None]


class SessionDependencyRow(Base):
    """``session_id`` may start only after ``depends_on`` finished successfully."""

    __tablename__ = "session_dependencies"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    depends_on: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SessionLogRow(Base):
    """The console log of an ended session as its agent last had it (UTF-8): served while
    that agent is away, and after it forgot the session."""

    __tablename__ = "session_logs"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
