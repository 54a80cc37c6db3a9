"""spare slot a (claim in notes before use)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 13:45:00
"""

from __future__ import annotations

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
