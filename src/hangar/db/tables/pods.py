"""GPU-cloud pods: what a user asked for, over the compute session that runs it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class PodRow(Base):
    """A pod of ``owner_uuid``. Its status is its session's (``session_id``, None until the
    session is written); ``spec`` keeps the request as the core's pod service stores it."""

    __tablename__ = "pods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    session_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    registry_auth_id: Mapped[int | None] = mapped_column(Integer, index=True)
    scaling_group: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
