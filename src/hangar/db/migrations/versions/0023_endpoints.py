"""endpoints: serverless endpoints, their workers and the workers' logs

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hangar.db.types

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, nullable: bool) -> sa.Column[Any]:
    return sa.Column(name, hangar.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_uuid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("owner", _json(), nullable=False),
        sa.Column("registry_auth_id", sa.Integer(), nullable=True),
        sa.Column("webhook", sa.String(length=512), nullable=True),
        sa.Column("domain", sa.String(length=32), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_info", sa.Text(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _time("next_start_at", True),
        _time("active_at", True),
        _time("created_at", False),
        _time("updated_at", False),
        _time("deleted_at", True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        _time("lease_expires", True),
        sa.ForeignKeyConstraint(
            ["owner_uuid"],
            ["users.uuid"],
            name=op.f("fk_endpoints_owner_uuid_users"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
        sa.UniqueConstraint("domain", name=op.f("uq_endpoints_domain")),
    )
    op.create_index(op.f("ix_endpoints_owner_uuid"), "endpoints", ["owner_uuid"], unique=False)
    op.create_index(
        op.f("ix_endpoints_registry_auth_id"), "endpoints", ["registry_auth_id"], unique=False
    )
    op.create_table(
        "endpoint_workers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("scaling_group", sa.String(length=64), nullable=False),
        sa.Column("gpu_type", sa.String(length=64), nullable=False),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_info", sa.Text(), nullable=True),
        sa.Column("log_offset", sa.Integer(), nullable=False),
        _time("created_at", False),
        _time("running_at", True),
        _time("ended_at", True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_endpoint_workers_endpoint_id_endpoints"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_workers")),
    )
    op.create_index(
        op.f("ix_endpoint_workers_endpoint_id"), "endpoint_workers", ["endpoint_id"], unique=False
    )
    op.create_index(
        op.f("ix_endpoint_workers_session_id"), "endpoint_workers", ["session_id"], unique=False
    )
    op.create_table(
        "endpoint_worker_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        _time("time", False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["endpoint_workers.id"],
            name=op.f("fk_endpoint_worker_logs_worker_id_endpoint_workers"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_worker_logs")),
    )
    op.create_index(
        "ix_endpoint_worker_logs_position", "endpoint_worker_logs",
        ["worker_id", "time", "offset"], unique=False,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_endpoint_worker_logs_position", table_name="endpoint_worker_logs")
    op.drop_table("endpoint_worker_logs")
    op.drop_index(op.f("ix_endpoint_workers_session_id"), table_name="endpoint_workers")
    op.drop_index(op.f("ix_endpoint_workers_endpoint_id"), table_name="endpoint_workers")
    op.drop_table("endpoint_workers")
    op.drop_index(op.f("ix_endpoints_registry_auth_id"), table_name="endpoints")
    op.drop_index(op.f("ix_endpoints_owner_uuid"), table_name="endpoints")
    op.drop_table("endpoints")
