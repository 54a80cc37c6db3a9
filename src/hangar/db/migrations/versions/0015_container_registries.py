"""container registries (host, URL, sealed credentials) for image pulls

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 08:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hangar.db.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "container_registries",
        sa.Column("hostname", sa.String(length=256), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=True),
        sa.Column("password_sealed", sa.Text(), nullable=True),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hostname", name=op.f("pk_container_registries")),
    )


def downgrade() -> None:
    op.drop_table("container_registries")
