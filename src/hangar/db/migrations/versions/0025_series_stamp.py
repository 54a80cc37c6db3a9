"""tracking_metric_series.stamp: a random number each write to the series sets

A reader that keeps a series' encoded history (the ClearML face's answer cache) compares
stamps to know whether it is still current, across server processes.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 13:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracking_metric_series") as batch:
        batch.add_column(sa.Column("stamp", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("tracking_metric_series") as batch:
        batch.drop_column("stamp")
