"""cloud api keys: the GPU-cloud face's X-Api-Key credentials, stored as SHA-256 hashes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hangar.db.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cloud_api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", hangar.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_uuid"],
            ["users.uuid"],
            name=op.f("fk_cloud_api_keys_user_uuid_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cloud_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_cloud_api_keys_key_hash")),
    )
    op.create_index(
        op.f("ix_cloud_api_keys_user_uuid"), "cloud_api_keys", ["user_uuid"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cloud_api_keys_user_uuid"), table_name="cloud_api_keys")
    op.drop_table("cloud_api_keys")
