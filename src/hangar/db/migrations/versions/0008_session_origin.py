"""a session's origin (who asked and why) and restart policy

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column(
                "origin_kind",
                sa.String(32),
                nullable=False,
                server_default="backendai-request",
            )
        )
        batch.add_column(sa.Column("origin_ref", sa.String(256), nullable=True))
        batch.add_column(
            sa.Column("restart_policy", sa.String(16), nullable=False, server_default="never")
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("restart_policy")
        batch.drop_column("origin_ref")
        batch.drop_column("origin_kind")
