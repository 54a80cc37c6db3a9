"""Images and their aliases."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class ImageRow(Base):
    """A named environment and how a node provides it."""

    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("registry", "name", "tag", "architecture", name="uq_images_ref"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    registry_name: Mapped[str] = mapped_column("registry", String(256))
    name: Mapped[str] = mapped_column(String(256))
    tag: Mapped[str] = mapped_column(String(128))
    architecture: Mapped[str] = mapped_column(String(32))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resource_limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provider: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class ImageAliasRow(Base):
    __tablename__ = "image_aliases"

    alias: Mapped[str] = mapped_column(String(256), primary_key=True)
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
