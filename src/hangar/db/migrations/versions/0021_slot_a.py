"""executor_runs: which server process runs each queued task Hangar executes (a lease)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 10:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hangar.db.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, hangar.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "executor_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("domain_name", sa.String(64), nullable=False),
        sa.Column("worker", sa.String(255), nullable=False),
        sa.Column("queue_id", sa.String(32), nullable=True),
        sa.Column("access_key", sa.String(64), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("home", sa.String(1024), nullable=False),
        _time("started"),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        _time("lease_expires", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_uuid"],
            ["users.uuid"],
            ondelete="CASCADE",
            name=op.f("fk_executor_runs_user_uuid_users"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executor_runs")),
    )
    op.create_index(
        op.f("ix_executor_runs_lease_expires"), "executor_runs", ["lease_expires"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_executor_runs_lease_expires"), table_name="executor_runs")
    op.drop_table("executor_runs")
