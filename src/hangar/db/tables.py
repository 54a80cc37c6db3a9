"""SQLAlchemy tables. Rows stay in the data layer: repos turn them into domain objects."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hangar.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON().with_variant(JSONB(), "postgresql"),
        list[str]: JSON().with_variant(JSONB(), "postgresql"),
        list[Any]: JSON().with_variant(JSONB(), "postgresql"),
        dict[str, Any] | None: JSON().with_variant(JSONB(), "postgresql"),
        uuid.UUID: Uuid(),
    }


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


class ScalingGroupRow(Base):
    __tablename__ = "scaling_groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    driver: Mapped[str] = mapped_column(String(64), default="static")
    driver_opts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scheduler: Mapped[str] = mapped_column(String(64), default="fifo")
    scheduler_opts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    wsproxy_addr: Mapped[str | None] = mapped_column(String(1024))


class ScalingGroupDomainRow(Base):
    __tablename__ = "sgroups_for_domains"

    scaling_group: Mapped[str] = mapped_column(
        ForeignKey("scaling_groups.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    domain: Mapped[str] = mapped_column(
        ForeignKey("domains.name", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )


class ScalingGroupGroupRow(Base):
    __tablename__ = "sgroups_for_groups"

    scaling_group: Mapped[str] = mapped_column(
        ForeignKey("scaling_groups.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    group: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )


class ScalingGroupKeyPairRow(Base):
    __tablename__ = "sgroups_for_keypairs"

    scaling_group: Mapped[str] = mapped_column(
        ForeignKey("scaling_groups.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    access_key: Mapped[str] = mapped_column(
        ForeignKey("keypairs.access_key", ondelete="CASCADE"), primary_key=True
    )


class LoginSessionRow(Base):
    """A console (cookie) login; only the hash of the cookie token is stored."""

    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_expires_at", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_uuid: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.uuid", ondelete="CASCADE"))
    access_key: Mapped[str] = mapped_column(ForeignKey("keypairs.access_key", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SettingRow(Base):
    """Small runtime-changeable settings: announcement, frozen flag, key-value config."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()
    modified_at: Mapped[datetime]


class AgentRow(Base):
    """A node that runs kernels; the embedded agent is one of them."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_changed: Mapped[datetime]
    region: Mapped[str] = mapped_column(String(64), default="local")
    scaling_group: Mapped[str] = mapped_column(
        ForeignKey("scaling_groups.name", onupdate="CASCADE"), index=True
    )
    schedulable: Mapped[bool] = mapped_column(Boolean, default=True)
    available_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occupied_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    devices: Mapped[list[Any]] = mapped_column(default=list)
    addr: Mapped[str] = mapped_column(String(256), default="")
    architecture: Mapped[str] = mapped_column(String(32), default="x86_64")
    version: Mapped[str] = mapped_column(String(64), default="")
    compute_plugins: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_contact: Mapped[datetime]
    last_heartbeat: Mapped[datetime]
    lost_at: Mapped[datetime | None]


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


LIVE_STATUSES_SQL = "status NOT IN ('TERMINATED', 'CANCELLED')"
HOLDING_STATUSES = ("SCHEDULED", "PREPARING", "PULLING", "RUNNING", "RESTARTING", "TERMINATING")
"""Session statuses that occupy agent slots, for domains that count sessions without
importing compute (the same set as ``hangar.core.compute.states.HOLDS_RESOURCES``)."""


class SessionRow(Base):
    """A compute session with its single (main) kernel: kernel id == session id."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index(
            "uq_sessions_live_name",
            "user_uuid",
            "name",
            unique=True,
            sqlite_where=text(LIVE_STATUSES_SQL),
            postgresql_where=text(LIVE_STATUSES_SQL),
        ),
        Index("ix_sessions_status_created", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # The owner is the user (in a domain and group); the credential it was created with is
    # data for the faces (the Backend.AI face shows and filters by the keypair's access key).
    access_key: Mapped[str | None] = mapped_column(ForeignKey("keypairs.access_key"), index=True)
    credential_kind: Mapped[str] = mapped_column(String(32), default="bai_keypair")
    credential_id: Mapped[str] = mapped_column(String(128))
    user_uuid: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.uuid"), index=True)
    domain_name: Mapped[str] = mapped_column(ForeignKey("domains.name", onupdate="CASCADE"))
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id"))
    scaling_group: Mapped[str] = mapped_column(
        ForeignKey("scaling_groups.name", onupdate="CASCADE")
    )
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id"))
    image_ref: Mapped[str] = mapped_column(String(512))
    session_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    status_info: Mapped[str | None] = mapped_column(String(256))
    status_data: Mapped[dict[str, Any] | None] = mapped_column()
    status_history: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status_changed: Mapped[datetime]
    result: Mapped[str] = mapped_column(String(16), default="UNDEFINED")
    requested_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occupied_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    device_allocations: Mapped[list[Any]] = mapped_column(default=list)
    environ: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mounts: Mapped[list[Any]] = mapped_column(default=list)
    bootstrap_script: Mapped[str | None] = mapped_column(Text)
    startup_command: Mapped[str | None] = mapped_column(Text)
    tag: Mapped[str | None] = mapped_column(String(256))
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    cluster_size: Mapped[int] = mapped_column(Integer, default=1)
    cluster_mode: Mapped[str] = mapped_column(String(16), default="single-node")
    created_at: Mapped[datetime]
    starts_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]
    num_queries: Mapped[int] = mapped_column(BigInteger, default=0)
    last_stat: Mapped[dict[str, Any] | None] = mapped_column()
    resource_opts: Mapped[dict[str, Any] | None] = mapped_column()
    agent_list: Mapped[list[str] | None] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    preopen_ports: Mapped[list[int] | None] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql")
    )
    # Who asked for the session and why (core.compute.models.Origin); its restart policy.
    origin_kind: Mapped[str] = mapped_column(String(32), default="backendai-request")
    origin_ref: Mapped[str | None] = mapped_column(String(256))
    restart_policy: Mapped[str] = mapped_column(String(16), default="never")
    # Who acts on the session now (a server process) and until when: see core/reconcile.py.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[datetime | None]


class SessionDependencyRow(Base):
    """``session_id`` may start only after ``depends_on`` finished successfully."""

    __tablename__ = "session_dependencies"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    depends_on: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True, index=True
    )


# Admin plane: resource presets and session templates ---------------------------------------


class ResourcePresetRow(Base):
    """A named set of resource slots users pick when they start sessions."""

    __tablename__ = "resource_presets"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    resource_slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    shared_memory: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class SessionTemplateRow(Base):
    """A stored task template (YAML/JSON) that sessions are created from."""

    __tablename__ = "session_templates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16), default="task")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    domain_name: Mapped[str] = mapped_column(ForeignKey("domains.name", onupdate="CASCADE"))
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_uuid: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    template: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]


# Storage: virtual folders, their shares and invitations, upload sessions, dotfiles ----------


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
