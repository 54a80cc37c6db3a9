"""admin plane (resource presets, session templates)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 21:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hangar.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "resource_presets",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("resource_slots", _json(), nullable=False),
        sa.Column("shared_memory", sa.BigInteger(), nullable=True),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_resource_presets")),
    )
    op.create_table(
        "session_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("template", _json(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_name"],
            ["domains.name"],
            name=op.f("fk_session_templates_domain_name_domains"),
            onupdate="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_session_templates_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_uuid"],
            ["users.uuid"],
            name=op.f("fk_session_templates_user_uuid_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_templates")),
    )
    op.create_index(
        op.f("ix_session_templates_user_uuid"), "session_templates", ["user_uuid"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_session_templates_user_uuid"), table_name="session_templates")
    op.drop_table("session_templates")
    op.drop_table("resource_presets")
