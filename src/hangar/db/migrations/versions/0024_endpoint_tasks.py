"""endpoint tasks: QUEUE tasks and webhook deliveries

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hangar.db.types

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool) -> sa.Column[Any]:
    return sa.Column(name, hangar.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "endpoint_tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("headers", json, nullable=False),
        sa.Column("worker_port", sa.Integer(), nullable=False),
        sa.Column("process_uri", sa.String(length=255), nullable=False),
        sa.Column("webhook", sa.String(length=512), nullable=True),
        sa.Column("webhook_key", sa.String(length=255), nullable=True),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("worker_url", sa.String(length=512), nullable=True),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("delivery_status", sa.String(length=24), nullable=False),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        _time("delivered_at", True),
        _time("notify_at", True),
        _time("created_at", False),
        _time("updated_at", False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        _time("lease_expires", True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_endpoint_tasks_endpoint_id_endpoints"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_tasks")),
        sa.UniqueConstraint("endpoint_id", "key", name="uq_endpoint_tasks_endpoint_key"),
    )
    op.create_index(
        "ix_endpoint_tasks_queue", "endpoint_tasks", ["endpoint_id", "status", "id"], unique=False
    )
    op.create_index(
        op.f("ix_endpoint_tasks_notify_at"), "endpoint_tasks", ["notify_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_endpoint_tasks_notify_at"), table_name="endpoint_tasks")
    op.drop_index("ix_endpoint_tasks_queue", table_name="endpoint_tasks")
    op.drop_table("endpoint_tasks")
