"""volumes and vms: GPU-cloud volumes and VMs

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 10:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hangar.db.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _owner() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_uuid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "volumes",
        *_owner(),
        sa.Column("storage_type", sa.String(length=8), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("size_gb", sa.Integer(), nullable=True),
        sa.Column("vendor_type", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("vfolder_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_uuid"], ["users.uuid"],
                                name=op.f("fk_volumes_owner_uuid_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volumes")),
    )  # fmt: skip
    op.create_index(op.f("ix_volumes_owner_uuid"), "volumes", ["owner_uuid"], unique=False)
    op.create_table(
        "vms",
        *_owner(),
        sa.Column("vm_type_id", sa.Integer(), nullable=False),
        sa.Column("gpu_type", sa.String(length=64), nullable=False),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("is_spot", sa.Boolean(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("disk_volume_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", hangar.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_uuid"], ["users.uuid"],
                                name=op.f("fk_vms_owner_uuid_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vms")),
    )  # fmt: skip
    op.create_index(op.f("ix_vms_owner_uuid"), "vms", ["owner_uuid"], unique=False)
    op.create_index(op.f("ix_vms_session_id"), "vms", ["session_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_vms_session_id"), table_name="vms")
    op.drop_index(op.f("ix_vms_owner_uuid"), table_name="vms")
    op.drop_table("vms")
    op.drop_index(op.f("ix_volumes_owner_uuid"), table_name="volumes")
    op.drop_table("volumes")
