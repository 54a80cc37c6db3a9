"""The nodes that run kernels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class AgentRow(Base):
    """A node that runs kernels; the embedded agent is one of them."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_changed: Mapped[datetime]
    region: Mapped[str] = mapped_column(String(64), default="local")
    scaling_group: Mapped[str] = mapped_column(
        ForeignKey("scaling_groups.name", onupdate="CASCADE"), index=True
    )
    schedulable: Mapped[bool] = mapped_column(Boolean, default=True)
    available_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occupied_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    devices: Mapped[list[Any]] = mapped_column(default=list)
    addr: Mapped[str] = mapped_column(String(256), default="")
    architecture: Mapped[str] = mapped_column(String(32), default="x86_64")
    version: Mapped[str] = mapped_column(String(64), default="")
    compute_plugins: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_contact: Mapped[datetime]
    last_heartbeat: Mapped[datetime]
    lost_at: Mapped[datetime | None]
