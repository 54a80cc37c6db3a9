"""Container registries images are pulled from, with their (encrypted) credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class ContainerRegistryRow(Base):
    """A registry by host name (``127.0.0.1:5000``, ``ghcr.io``); the password is sealed
    with the server key like secret keys."""

    __tablename__ = "container_registries"

    hostname: Mapped[str] = mapped_column(String(256), primary_key=True)
    url: Mapped[str] = mapped_column(String(512))
    username: Mapped[str | None] = mapped_column(String(256), nullable=True)
    password_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]
