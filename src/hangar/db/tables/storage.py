"""Virtual folders, their shares and invitations, uploads, download tokens, dotfiles."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class VFolderRow(Base):
    """A virtual folder on a storage host, owned by a user or by a group."""

    __tablename__ = "vfolders"
    __table_args__ = (Index("ix_vfolders_host_name", "host", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(64))
    usage_mode: Mapped[str] = mapped_column(String(16), default="general")
    permission: Mapped[str] = mapped_column(String(2), default="rw")
    quota_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    cloneable: Mapped[bool] = mapped_column(Boolean, default=False)
    ownership_type: Mapped[str] = mapped_column(String(8))
    user_uuid: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    creator: Mapped[str] = mapped_column(String(128))
    unmanaged_path: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime]
    last_used: Mapped[datetime | None]


class VFolderShareRow(Base):
    """A user's permission on a folder they do not own (accepted invitation or group share)."""

    __tablename__ = "vfolder_shares"

    vfolder_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vfolders.id", ondelete="CASCADE"), primary_key=True
    )
    user_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), primary_key=True, index=True
    )
    permission: Mapped[str] = mapped_column(String(2))


class VFolderInvitationRow(Base):
    __tablename__ = "vfolder_invitations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    vfolder_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vfolders.id", ondelete="CASCADE"), index=True
    )
    inviter: Mapped[str] = mapped_column(String(128))
    invitee: Mapped[str] = mapped_column(String(128), index=True)
    permission: Mapped[str] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]


class UploadSessionRow(Base):
    """A resumable upload: the data grows in a staging file until it reaches ``size``."""

    __tablename__ = "upload_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    vfolder_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vfolders.id", ondelete="CASCADE"), index=True
    )
    relpath: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class DownloadTokenRow(Base):
    """A download ticket for one file; the token is stored hashed and expires."""

    __tablename__ = "download_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    vfolder_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vfolders.id", ondelete="CASCADE"), index=True
    )
    relpath: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class DotfileRow(Base):
    """A file written into /home/work of every session in its scope (user, group or domain)."""

    __tablename__ = "dotfiles"
    __table_args__ = (UniqueConstraint("scope", "owner", "path", name="uq_dotfiles_scope"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))
    owner: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(256))
    permission: Mapped[str] = mapped_column(String(3))
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
