"""spare slot a (claim in notes before use)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 10:45:00
"""

from __future__ import annotations

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
