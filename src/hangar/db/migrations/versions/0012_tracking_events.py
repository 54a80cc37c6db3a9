"""task events: scalars, plots, debug images, logs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 07:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _ms(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _text(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=False)


def _point(table: str, *extra: sa.Column[object]) -> None:
    """A non-scalar event table: one row per (task, metric, variant, iter)."""
    unique = ["task_id", "metric", "variant", "iter"]
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        _text("metric"),
        _text("variant"),
        _ms("iter"),
        *extra,
        _ms("timestamp"),
        _text("worker"),
        _ms("written_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint(*unique, name=f"uq_{table}_point"),
    )


def upgrade() -> None:
    op.create_table(
        "tracking_metric_series",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        _text("metric"),
        _text("variant"),
        _ms("count"),
        sa.Column("value_sum", sa.Double(), nullable=False),
        sa.Column("last_value", sa.Double(), nullable=True),
        _ms("last_iter", nullable=True),
        _ms("last_ts", nullable=True),
        sa.Column("min_value", sa.Double(), nullable=True),
        _ms("min_iter", nullable=True),
        sa.Column("max_value", sa.Double(), nullable=True),
        _ms("max_iter", nullable=True),
        sa.Column("first_value", sa.Double(), nullable=True),
        _ms("first_iter", nullable=True),
        sa.Column("x_axis_label", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_metric_series")),
        sa.UniqueConstraint("task_id", "metric", "variant", name="uq_tracking_metric_series_name"),
    )
    op.create_table(
        "tracking_scalars",
        sa.Column("series_id", sa.Integer(), nullable=False),
        _ms("iter"),
        sa.Column("value", sa.Double(), nullable=True),
        _ms("timestamp"),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["tracking_metric_series.id"],
            name=op.f("fk_tracking_scalars_series_id_tracking_metric_series"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("series_id", "iter", name=op.f("pk_tracking_scalars")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tracking_event_tasks",
        sa.Column("task_id", sa.String(length=32), nullable=False),
        _ms("last_iteration"),
        _ms("last_update"),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_tracking_event_tasks")),
    )
    _point(
        "tracking_plots",
        sa.Column("compressed", sa.Boolean(), nullable=False),
        sa.Column("plot_len", sa.Integer(), nullable=False),
        sa.Column("plot", sa.LargeBinary(), nullable=False),
    )
    _point("tracking_debug_images", _text("key"), _text("url"))
    _point("tracking_vectors", sa.Column("values", JSON, nullable=False))
    op.create_table(
        "tracking_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        _ms("timestamp"),
        sa.Column("level", sa.String(length=32), nullable=False),
        _text("worker"),
        _text("msg"),
        _ms("written_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_logs")),
    )
    op.create_index(
        "ix_tracking_logs_task_time", "tracking_logs", ["task_id", "timestamp", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_tracking_logs_task_time", table_name="tracking_logs")
    for table in (
        "tracking_logs", "tracking_vectors", "tracking_debug_images", "tracking_plots",
        "tracking_event_tasks", "tracking_scalars", "tracking_metric_series",
    ):  # fmt: skip
        op.drop_table(table)
