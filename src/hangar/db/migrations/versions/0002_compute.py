"""compute: agents, images, sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:09:46.715526
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hangar.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("registry", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("architecture", sa.String(length=32), nullable=False),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "resource_limits",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "provider",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("registry", "name", "tag", "architecture", name="uq_images_ref"),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_changed", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("scaling_group", sa.String(length=64), nullable=False),
        sa.Column("schedulable", sa.Boolean(), nullable=False),
        sa.Column(
            "available_slots",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "occupied_slots",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "devices",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("addr", sa.String(length=256), nullable=False),
        sa.Column("architecture", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column(
            "compute_plugins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_contact", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lost_at", hangar.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["scaling_group"],
            ["scaling_groups.name"],
            name=op.f("fk_agents_scaling_group_scaling_groups"),
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agents_scaling_group"), ["scaling_group"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_agents_status"), ["status"], unique=False)

    op.create_table(
        "image_aliases",
        sa.Column("alias", sa.String(length=256), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_image_aliases_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_image_aliases")),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("access_key", sa.String(length=20), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("scaling_group", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("image_ref", sa.String(length=512), nullable=False),
        sa.Column("session_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_info", sa.String(length=256), nullable=True),
        sa.Column(
            "status_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "status_history",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status_changed", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column(
            "requested_slots",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "occupied_slots",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "device_allocations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "environ",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "mounts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("bootstrap_script", sa.Text(), nullable=True),
        sa.Column("startup_command", sa.Text(), nullable=True),
        sa.Column("tag", sa.String(length=256), nullable=True),
        sa.Column("callback_url", sa.String(length=2048), nullable=True),
        sa.Column("cluster_size", sa.Integer(), nullable=False),
        sa.Column("cluster_mode", sa.String(length=16), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("starts_at", hangar.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", hangar.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("terminated_at", hangar.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("num_queries", sa.BigInteger(), nullable=False),
        sa.Column(
            "last_stat",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["access_key"], ["keypairs.access_key"], name=op.f("fk_sessions_access_key_keypairs")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_sessions_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["domain_name"],
            ["domains.name"],
            name=op.f("fk_sessions_domain_name_domains"),
            onupdate="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_sessions_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_sessions_image_id_images")
        ),
        sa.ForeignKeyConstraint(
            ["scaling_group"],
            ["scaling_groups.name"],
            name=op.f("fk_sessions_scaling_group_scaling_groups"),
            onupdate="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_uuid"], ["users.uuid"], name=op.f("fk_sessions_user_uuid_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_access_key"), ["access_key"], unique=False)
        batch_op.create_index("ix_sessions_status_created", ["status", "created_at"], unique=False)
        batch_op.create_index(
            "uq_sessions_live_name",
            ["access_key", "name"],
            unique=True,
            sqlite_where=sa.text("status NOT IN ('TERMINATED', 'CANCELLED')"),
            postgresql_where=sa.text("status NOT IN ('TERMINATED', 'CANCELLED')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_sessions_live_name",
            sqlite_where=sa.text("status NOT IN ('TERMINATED', 'CANCELLED')"),
            postgresql_where=sa.text("status NOT IN ('TERMINATED', 'CANCELLED')"),
        )
        batch_op.drop_index("ix_sessions_status_created")
        batch_op.drop_index(batch_op.f("ix_sessions_access_key"))

    op.drop_table("sessions")
    op.drop_table("image_aliases")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_status"))
        batch_op.drop_index(batch_op.f("ix_agents_scaling_group"))

    op.drop_table("agents")
    op.drop_table("images")
