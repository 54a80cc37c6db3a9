"""The GPU-cloud face's VMs: a long-lived compute session (origin kind vm) with sshd, a
persistent disk (a volume) and the catalogue entry it was made from."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class VmRow(Base):
    __tablename__ = "vms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    vm_type_id: Mapped[int] = mapped_column(Integer)
    gpu_type: Mapped[str] = mapped_column(String(64))
    gpu_count: Mapped[int] = mapped_column(Integer)
    region: Mapped[str] = mapped_column(String(64))
    is_spot: Mapped[bool] = mapped_column(Boolean)
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    disk_volume_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    terminated_at: Mapped[datetime | None]
