"""Resource presets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class ResourcePresetRow(Base):
    """A named set of resource slots users pick when they start sessions."""

    __tablename__ = "resource_presets"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    resource_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    shared_memory: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
