"""A user's own container-registry credentials (the GPU-cloud face's registry auths)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class RegistryAuthRow(Base):
    """Username and password for pulling a user's private images; the password is sealed
    with the server key, like the container registries' and the secret keys."""

    __tablename__ = "registry_auths"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    username: Mapped[str] = mapped_column(String(256))
    password_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
