"""tracking_credential_labels: a label per ClearML credential (auth.*_credentials)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 10:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracking_credential_labels",
        sa.Column("access_key", sa.String(20), nullable=False),
        sa.Column("label", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(
            ["access_key"],
            ["keypairs.access_key"],
            ondelete="CASCADE",
            name=op.f("fk_tracking_credential_labels_access_key_keypairs"),
        ),
        sa.PrimaryKeyConstraint("access_key", name=op.f("pk_tracking_credential_labels")),
    )


def downgrade() -> None:
    op.drop_table("tracking_credential_labels")
