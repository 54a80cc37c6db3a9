"""Domains, groups (projects), users, keypairs, resource policies, console logins."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class DomainRow(Base):
    __tablename__ = "domains"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
    total_resource_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    allowed_vfolder_hosts: Mapped[list[str]] = mapped_column(default=list)
    allowed_docker_registries: Mapped[list[str]] = mapped_column(default=list)
    integration_id: Mapped[str | None] = mapped_column(String(512))


class GroupRow(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("domain_name", "name", name="uq_groups_domain_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
    domain_name: Mapped[str] = mapped_column(ForeignKey("domains.name", onupdate="CASCADE"))
    total_resource_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    allowed_vfolder_hosts: Mapped[list[str]] = mapped_column(default=list)
    integration_id: Mapped[str | None] = mapped_column(String(512))


class UserRow(Base):
    __tablename__ = "users"

    uuid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    need_password_change: Mapped[bool] = mapped_column(Boolean, default=False)
    full_name: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32))
    status_info: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    domain_name: Mapped[str] = mapped_column(
        ForeignKey("domains.name", onupdate="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]


class GroupMemberRow(Base):
    __tablename__ = "association_groups_users"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )


class ResourcePolicyRow(Base):
    __tablename__ = "keypair_resource_policies"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    created_at: Mapped[datetime]
    default_for_unspecified: Mapped[str] = mapped_column(String(16))
    total_resource_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    max_session_lifetime: Mapped[int] = mapped_column(Integer, default=0)
    max_concurrent_sessions: Mapped[int] = mapped_column(Integer)
    max_containers_per_session: Mapped[int] = mapped_column(Integer, default=1)
    idle_timeout: Mapped[int] = mapped_column(BigInteger)
    max_vfolder_count: Mapped[int] = mapped_column(Integer)
    max_vfolder_size: Mapped[int] = mapped_column(BigInteger, default=0)
    allowed_vfolder_hosts: Mapped[list[str]] = mapped_column(default=list)


class KeyPairRow(Base):
    __tablename__ = "keypairs"

    access_key: Mapped[str] = mapped_column(String(20), primary_key=True)
    secret_key_encrypted: Mapped[str] = mapped_column(Text)
    user_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    resource_policy: Mapped[str] = mapped_column(
        ForeignKey("keypair_resource_policies.name", onupdate="CASCADE")
    )
    rate_limit: Mapped[int] = mapped_column(Integer)
    num_queries: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
    last_used: Mapped[datetime | None]
    ssh_public_key: Mapped[str | None] = mapped_column(Text)
    ssh_private_key_encrypted: Mapped[str | None] = mapped_column(Text)


class LoginSessionRow(Base):
    """A console (cookie) login; only the hash of the cookie token is stored."""

    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_expires_at", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_uuid: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.uuid", ondelete="CASCADE"))
    access_key: Mapped[str] = mapped_column(ForeignKey("keypairs.access_key", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class CloudApiKeyRow(Base):
    """A GPU-cloud API key (``X-Api-Key``) of a user; only the key's SHA-256 is stored."""

    __tablename__ = "cloud_api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64), default="")
    user_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
