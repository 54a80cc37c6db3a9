"""Background tasks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class BackgroundTaskRow(Base):
    """A long operation (folder clone, image rescan) and where it stands; kept a day after."""

    __tablename__ = "background_tasks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    current_progress: Mapped[int] = mapped_column(BigInteger, default=0)
    total_progress: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
