"""models and their metadata

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 07:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hangar.db.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

DOCUMENTS = ("tags", "system_tags", "design", "labels", "meta", "ui_cache", "last_metrics")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, hangar.db.types.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "tracking_models",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=True),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("framework", sa.String(length=255), nullable=True),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("last_iteration", sa.Integer(), nullable=False),
        *(sa.Column(name, JSON, nullable=False) for name in DOCUMENTS),
        _time("created"),
        _time("last_update"),
        sa.ForeignKeyConstraint(
            ["user_uuid"],
            ["users.uuid"],
            name=op.f("fk_tracking_models_user_uuid_users"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["tracking_projects.id"],
            name=op.f("fk_tracking_models_project_id_tracking_projects"),
            ondelete="SET NULL",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_models")),
    )
    op.create_index(
        "ix_tracking_models_owner", "tracking_models", ["domain_name", "user_uuid"], unique=False
    )
    op.create_index(
        "ix_tracking_models_project", "tracking_models", ["project_id", "created"], unique=False
    )
    op.create_index(
        op.f("ix_tracking_models_task_id"), "tracking_models", ["task_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tracking_models_task_id"), table_name="tracking_models")
    op.drop_index("ix_tracking_models_project", table_name="tracking_models")
    op.drop_index("ix_tracking_models_owner", table_name="tracking_models")
    op.drop_table("tracking_models")
