"""projects and tasks (experiment tracking)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 07:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hangar.db.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DOCUMENTS = (
    "execution", "script", "output", "models", "container", "hyperparams", "configuration",
    "runtime",
)  # fmt: skip
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, hangar.db.types.UTCDateTime(timezone=True), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, JSON, nullable=False)


def upgrade() -> None:
    op.create_table(
        "tracking_projects",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("basename", sa.String(length=255), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        _json("tags"),
        _json("system_tags"),
        sa.Column("default_output_destination", sa.Text(), nullable=True),
        _time("created"),
        _time("last_update"),
        sa.ForeignKeyConstraint(
            ["user_uuid"],
            ["users.uuid"],
            name=op.f("fk_tracking_projects_user_uuid_users"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_projects")),
        sa.UniqueConstraint("domain_name", "user_uuid", "name", name="uq_tracking_projects_name"),
    )
    for column in ("domain_name", "user_uuid", "parent_id"):
        op.create_index(
            op.f(f"ix_tracking_projects_{column}"), "tracking_projects", [column], unique=False
        )
    op.create_table(
        "tracking_tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        _time("status_changed", nullable=True),
        sa.Column("enqueue_status", sa.String(length=16), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        _json("tags"),
        _json("system_tags"),
        _time("created"),
        _time("started", nullable=True),
        _time("completed", nullable=True),
        _time("published", nullable=True),
        _time("last_update"),
        _time("last_change"),
        sa.Column("last_worker", sa.String(length=255), nullable=True),
        _time("last_worker_report", nullable=True),
        sa.Column("active_duration", sa.Integer(), nullable=True),
        *(_json(name) for name in DOCUMENTS),
        sa.ForeignKeyConstraint(
            ["user_uuid"],
            ["users.uuid"],
            name=op.f("fk_tracking_tasks_user_uuid_users"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["tracking_projects.id"],
            name=op.f("fk_tracking_tasks_project_id_tracking_projects"),
            ondelete="SET NULL",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_tasks")),
    )
    op.create_index(
        "ix_tracking_tasks_owner", "tracking_tasks", ["domain_name", "user_uuid"], unique=False
    )
    op.create_index(
        "ix_tracking_tasks_project", "tracking_tasks", ["project_id", "name"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_tracking_tasks_project", table_name="tracking_tasks")
    op.drop_index("ix_tracking_tasks_owner", table_name="tracking_tasks")
    op.drop_table("tracking_tasks")
    for column in ("parent_id", "user_uuid", "domain_name"):
        op.drop_index(op.f(f"ix_tracking_projects_{column}"), table_name="tracking_projects")
    op.drop_table("tracking_projects")
