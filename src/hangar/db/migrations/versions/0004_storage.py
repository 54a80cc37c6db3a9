"""storage (vfolders, shares, invitations, transfers, dotfiles, background tasks)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hangar.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "background_tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_progress", sa.BigInteger(), nullable=False),
        sa.Column("total_progress", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_background_tasks")),
    )
    op.create_index(
        op.f("ix_background_tasks_updated_at"), "background_tasks", ["updated_at"], unique=False
    )
    op.create_table(
        "dotfiles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=256), nullable=False),
        sa.Column("permission", sa.String(length=3), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dotfiles")),
        sa.UniqueConstraint("scope", "owner", "path", name="uq_dotfiles_scope"),
    )
    op.create_table(
        "vfolders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("usage_mode", sa.String(length=16), nullable=False),
        sa.Column("permission", sa.String(length=2), nullable=False),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=False),
        sa.Column("cloneable", sa.Boolean(), nullable=False),
        sa.Column("ownership_type", sa.String(length=8), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=True),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("creator", sa.String(length=128), nullable=False),
        sa.Column("unmanaged_path", sa.String(length=1024), nullable=True),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used", hangar.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_vfolders_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_uuid"],
            ["users.uuid"],
            name=op.f("fk_vfolders_user_uuid_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vfolders")),
    )
    op.create_index(op.f("ix_vfolders_group_id"), "vfolders", ["group_id"], unique=False)
    op.create_index("ix_vfolders_host_name", "vfolders", ["host", "name"], unique=False)
    op.create_index(op.f("ix_vfolders_user_uuid"), "vfolders", ["user_uuid"], unique=False)
    op.create_table(
        "upload_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("vfolder_id", sa.Uuid(), nullable=False),
        sa.Column("relpath", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vfolder_id"],
            ["vfolders.id"],
            name=op.f("fk_upload_sessions_vfolder_id_vfolders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_upload_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_upload_sessions_vfolder_id"), "upload_sessions", ["vfolder_id"], unique=False
    )
    op.create_table(
        "download_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("vfolder_id", sa.Uuid(), nullable=False),
        sa.Column("relpath", sa.Text(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vfolder_id"],
            ["vfolders.id"],
            name=op.f("fk_download_tokens_vfolder_id_vfolders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_download_tokens")),
    )
    op.create_index(
        op.f("ix_download_tokens_expires_at"), "download_tokens", ["expires_at"], unique=False
    )
    op.create_index(
        op.f("ix_download_tokens_vfolder_id"), "download_tokens", ["vfolder_id"], unique=False
    )
    op.create_table(
        "vfolder_invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vfolder_id", sa.Uuid(), nullable=False),
        sa.Column("inviter", sa.String(length=128), nullable=False),
        sa.Column("invitee", sa.String(length=128), nullable=False),
        sa.Column("permission", sa.String(length=2), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vfolder_id"],
            ["vfolders.id"],
            name=op.f("fk_vfolder_invitations_vfolder_id_vfolders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vfolder_invitations")),
    )
    op.create_index(
        op.f("ix_vfolder_invitations_invitee"), "vfolder_invitations", ["invitee"], unique=False
    )
    op.create_index(
        op.f("ix_vfolder_invitations_vfolder_id"),
        "vfolder_invitations",
        ["vfolder_id"],
        unique=False,
    )
    op.create_table(
        "vfolder_shares",
        sa.Column("vfolder_id", sa.Uuid(), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("permission", sa.String(length=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_uuid"],
            ["users.uuid"],
            name=op.f("fk_vfolder_shares_user_uuid_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vfolder_id"],
            ["vfolders.id"],
            name=op.f("fk_vfolder_shares_vfolder_id_vfolders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("vfolder_id", "user_uuid", name=op.f("pk_vfolder_shares")),
    )
    op.create_index(
        op.f("ix_vfolder_shares_user_uuid"), "vfolder_shares", ["user_uuid"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_vfolder_shares_user_uuid"), table_name="vfolder_shares")
    op.drop_table("vfolder_shares")
    op.drop_index(op.f("ix_vfolder_invitations_vfolder_id"), table_name="vfolder_invitations")
    op.drop_index(op.f("ix_vfolder_invitations_invitee"), table_name="vfolder_invitations")
    op.drop_table("vfolder_invitations")
    op.drop_index(op.f("ix_download_tokens_vfolder_id"), table_name="download_tokens")
    op.drop_index(op.f("ix_download_tokens_expires_at"), table_name="download_tokens")
    op.drop_table("download_tokens")
    op.drop_index(op.f("ix_upload_sessions_vfolder_id"), table_name="upload_sessions")
    op.drop_table("upload_sessions")
    op.drop_index(op.f("ix_vfolders_user_uuid"), table_name="vfolders")
    op.drop_index("ix_vfolders_host_name", table_name="vfolders")
    op.drop_index(op.f("ix_vfolders_group_id"), table_name="vfolders")
    op.drop_table("vfolders")
    op.drop_table("dotfiles")
    op.drop_index(op.f("ix_background_tasks_updated_at"), table_name="background_tasks")
    op.drop_table("background_tasks")
