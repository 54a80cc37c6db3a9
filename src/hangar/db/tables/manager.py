"""Small runtime-changeable settings of the manager."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class SettingRow(Base):
    """Small runtime-changeable settings: announcement, frozen flag, key-value config."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()
    modified_at: Mapped[datetime]
