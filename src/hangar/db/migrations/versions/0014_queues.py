"""queues, their entries and samples; workers and their machine stats

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hangar.db.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, hangar.db.types.UTCDateTime(timezone=True), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, JSON, nullable=False)


def _id() -> sa.Column[object]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [target], ondelete=ondelete,
        name=op.f(f"fk_{table}_{column}_{target.split('.')[0]}"),
    )  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "queues",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        _json("tags"),
        _json("system_tags"),
        _json("meta"),
        sa.Column("served_by", sa.String(length=16), nullable=False),
        sa.Column("scaling_group", sa.String(length=64), nullable=True),
        sa.Column("resource_preset", sa.String(length=64), nullable=True),
        _time("created"),
        _time("last_update"),
        _fk("queues", "user_uuid", "users.uuid", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queues")),
        sa.UniqueConstraint("domain_name", "name", name="uq_queues_name"),
    )
    op.create_table(
        "queue_entries",
        _id(),
        sa.Column("queue_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("rank", sa.BigInteger(), nullable=False),
        _time("added"),
        _fk("queue_entries", "queue_id", "queues.id", "CASCADE"),
        _fk("queue_entries", "task_id", "tracking_tasks.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_entries")),
        sa.UniqueConstraint("task_id", name=op.f("uq_queue_entries_task_id")),
    )
    op.create_index("ix_queue_entries_order", "queue_entries", ["queue_id", "rank", "id"])
    op.create_table(
        "queue_samples",
        _id(),
        sa.Column("queue_id", sa.String(length=32), nullable=False),
        _time("at"),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("wait_seconds", sa.Float(), nullable=False),
        _fk("queue_samples", "queue_id", "queues.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_samples")),
    )
    op.create_index("ix_queue_samples_queue", "queue_samples", ["queue_id", "at"])
    op.create_table(
        "workers",
        _id(),
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        _json("tags"),
        _json("system_tags"),
        _json("queues"),
        sa.Column("queue_id", sa.String(length=32), nullable=True),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        _time("register_time"),
        _time("last_activity_time"),
        _time("last_report_time", nullable=True),
        _fk("workers", "user_uuid", "users.uuid", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
        sa.UniqueConstraint("domain_name", "name", name="uq_workers_name"),
    )
    op.create_index(op.f("ix_workers_last_activity_time"), "workers", ["last_activity_time"])
    op.create_table(
        "worker_stats",
        _id(),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        _time("at"),
        sa.Column("busy", sa.Boolean(), nullable=False),
        _json("stats"),
        _fk("worker_stats", "worker_id", "workers.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_stats")),
    )
    op.create_index("ix_worker_stats_worker", "worker_stats", ["worker_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_worker_stats_worker", table_name="worker_stats")
    op.drop_table("worker_stats")
    op.drop_index(op.f("ix_workers_last_activity_time"), table_name="workers")
    op.drop_table("workers")
    op.drop_index("ix_queue_samples_queue", table_name="queue_samples")
    op.drop_table("queue_samples")
    op.drop_index("ix_queue_entries_order", table_name="queue_entries")
    op.drop_table("queue_entries")
    op.drop_table("queues")
