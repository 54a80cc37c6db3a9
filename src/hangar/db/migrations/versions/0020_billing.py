"""billing: price table, usage cost, daily limits

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 10:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hangar.db.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = hangar.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "billing_prices",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("per_hour", sa.String(length=40), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_billing_prices")),
    )
    op.create_table(
        "billing_limits",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject", name=op.f("pk_billing_limits")),
    )
    op.create_table(
        "billing_meters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("origin_kind", sa.String(length=32), nullable=False),
        sa.Column("origin_ref", sa.String(length=256), nullable=True),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_meters")),
    )
    op.create_index("ix_billing_meters_subject", "billing_meters", ["subject_kind", "subject_id"])
    op.create_index("ix_billing_meters_origin", "billing_meters", ["origin_kind", "origin_ref"])
    op.create_index(
        "uq_billing_meters_open",
        "billing_meters",
        ["subject_kind", "subject_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    for column in ("user_uuid", "group_id", "started_at"):
        op.create_index(op.f(f"ix_billing_meters_{column}"), "billing_meters", [column])


def downgrade() -> None:
    op.drop_table("billing_meters")
    op.drop_table("billing_limits")
    op.drop_table("billing_prices")
