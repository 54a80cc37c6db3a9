"""compute additions (session dependencies, scheduling options)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("sessions", sa.Column("resource_opts", _json(), nullable=True))
    op.add_column("sessions", sa.Column("agent_list", _json(), nullable=True))
    op.create_table(
        "session_dependencies",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("depends_on", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["depends_on"],
            ["sessions.id"],
            name=op.f("fk_session_dependencies_depends_on_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_dependencies_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "depends_on", name=op.f("pk_session_dependencies")),
    )
    op.create_index(
        op.f("ix_session_dependencies_depends_on"),
        "session_dependencies",
        ["depends_on"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_session_dependencies_depends_on"), table_name="session_dependencies")
    op.drop_table("session_dependencies")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("agent_list")
        batch.drop_column("resource_opts")
