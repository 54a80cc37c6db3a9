"""The GPU-cloud face's volumes: a user's named storage with a type, a size and a status,
each backed by one virtual folder (``vfolder_id``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class VolumeRow(Base):
    __tablename__ = "volumes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    storage_type: Mapped[str] = mapped_column(String(8))
    region: Mapped[str | None] = mapped_column(String(64))
    size_gb: Mapped[int | None] = mapped_column(Integer)
    vendor_type: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    vfolder_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime]
