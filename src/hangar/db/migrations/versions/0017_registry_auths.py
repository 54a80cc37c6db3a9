"""registry auths: a user's container-registry credentials, the password sealed

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hangar.db.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_auths",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_uuid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("password_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_uuid"],
            ["users.uuid"],
            name=op.f("fk_registry_auths_owner_uuid_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_auths")),
    )
    op.create_index(
        op.f("ix_registry_auths_owner_uuid"), "registry_auths", ["owner_uuid"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_registry_auths_owner_uuid"), table_name="registry_auths")
    op.drop_table("registry_auths")
