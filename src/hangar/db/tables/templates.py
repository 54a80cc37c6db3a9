"""Session templates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class SessionTemplateRow(Base):
    """A stored task template (YAML/JSON) that sessions are created from."""

    __tablename__ = "session_templates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16), default="task")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    domain_name: Mapped[str] = mapped_column(ForeignKey("domains.name", onupdate="CASCADE"))
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    template: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
