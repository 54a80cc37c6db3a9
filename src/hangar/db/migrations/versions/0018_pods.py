"""pods: a GPU-cloud pod over a compute session

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 10:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hangar.db.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pods",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_uuid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("registry_auth_id", sa.Integer(), nullable=True),
        sa.Column("scaling_group", sa.String(length=64), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", hangar.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_uuid"],
            ["users.uuid"],
            name=op.f("fk_pods_owner_uuid_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pods")),
    )
    op.create_index(op.f("ix_pods_owner_uuid"), "pods", ["owner_uuid"], unique=False)
    op.create_index(op.f("ix_pods_session_id"), "pods", ["session_id"], unique=False)
    op.create_index(op.f("ix_pods_registry_auth_id"), "pods", ["registry_auth_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pods_registry_auth_id"), table_name="pods")
    op.drop_index(op.f("ix_pods_session_id"), table_name="pods")
    op.drop_index(op.f("ix_pods_owner_uuid"), table_name="pods")
    op.drop_table("pods")
