"""identity: domains, groups, users, keypairs, policies, scaling groups

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:06:50.377797
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hangar.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "total_resource_slots",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "allowed_vfolder_hosts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "allowed_docker_registries",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("integration_id", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_domains")),
    )
    op.create_table(
        "keypair_resource_policies",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("default_for_unspecified", sa.String(length=16), nullable=False),
        sa.Column(
            "total_resource_slots",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("max_session_lifetime", sa.Integer(), nullable=False),
        sa.Column("max_concurrent_sessions", sa.Integer(), nullable=False),
        sa.Column("max_containers_per_session", sa.Integer(), nullable=False),
        sa.Column("idle_timeout", sa.BigInteger(), nullable=False),
        sa.Column("max_vfolder_count", sa.Integer(), nullable=False),
        sa.Column("max_vfolder_size", sa.BigInteger(), nullable=False),
        sa.Column(
            "allowed_vfolder_hosts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_keypair_resource_policies")),
    )
    op.create_table(
        "scaling_groups",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("driver", sa.String(length=64), nullable=False),
        sa.Column(
            "driver_opts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("scheduler", sa.String(length=64), nullable=False),
        sa.Column(
            "scheduler_opts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("wsproxy_addr", sa.String(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scaling_groups")),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("modified_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column(
            "total_resource_slots",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "allowed_vfolder_hosts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("integration_id", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_name"],
            ["domains.name"],
            name=op.f("fk_groups_domain_name_domains"),
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("domain_name", "name", name="uq_groups_domain_name"),
    )
    op.create_table(
        "sgroups_for_domains",
        sa.Column("scaling_group", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain"],
            ["domains.name"],
            name=op.f("fk_sgroups_for_domains_domain_domains"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scaling_group"],
            ["scaling_groups.name"],
            name=op.f("fk_sgroups_for_domains_scaling_group_scaling_groups"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scaling_group", "domain", name=op.f("pk_sgroups_for_domains")),
    )
    op.create_table(
        "users",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("need_password_change", sa.Boolean(), nullable=False),
        sa.Column("full_name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_info", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_name"],
            ["domains.name"],
            name=op.f("fk_users_domain_name_domains"),
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_domain_name"), ["domain_name"], unique=False)

    op.create_table(
        "association_groups_users",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_association_groups_users_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.uuid"],
            name=op.f("fk_association_groups_users_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "group_id", name=op.f("pk_association_groups_users")),
    )
    op.create_table(
        "keypairs",
        sa.Column("access_key", sa.String(length=20), nullable=False),
        sa.Column("secret_key_encrypted", sa.Text(), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("resource_policy", sa.String(length=256), nullable=False),
        sa.Column("rate_limit", sa.Integer(), nullable=False),
        sa.Column("num_queries", sa.BigInteger(), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used", hangar.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ssh_public_key", sa.Text(), nullable=True),
        sa.Column("ssh_private_key_encrypted", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_policy"],
            ["keypair_resource_policies.name"],
            name=op.f("fk_keypairs_resource_policy_keypair_resource_policies"),
            onupdate="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_uuid"],
            ["users.uuid"],
            name=op.f("fk_keypairs_user_uuid_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("access_key", name=op.f("pk_keypairs")),
    )
    with op.batch_alter_table("keypairs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_keypairs_user_uuid"), ["user_uuid"], unique=False)

    op.create_table(
        "sgroups_for_groups",
        sa.Column("scaling_group", sa.String(length=64), nullable=False),
        sa.Column("group", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group"],
            ["groups.id"],
            name=op.f("fk_sgroups_for_groups_group_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scaling_group"],
            ["scaling_groups.name"],
            name=op.f("fk_sgroups_for_groups_scaling_group_scaling_groups"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scaling_group", "group", name=op.f("pk_sgroups_for_groups")),
    )
    op.create_table(
        "login_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("access_key", sa.String(length=20), nullable=False),
        sa.Column("created_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", hangar.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["access_key"],
            ["keypairs.access_key"],
            name=op.f("fk_login_sessions_access_key_keypairs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_uuid"],
            ["users.uuid"],
            name=op.f("fk_login_sessions_user_uuid_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_login_sessions")),
    )
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_login_sessions_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "sgroups_for_keypairs",
        sa.Column("scaling_group", sa.String(length=64), nullable=False),
        sa.Column("access_key", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["access_key"],
            ["keypairs.access_key"],
            name=op.f("fk_sgroups_for_keypairs_access_key_keypairs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scaling_group"],
            ["scaling_groups.name"],
            name=op.f("fk_sgroups_for_keypairs_scaling_group_scaling_groups"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "scaling_group", "access_key", name=op.f("pk_sgroups_for_keypairs")
        ),
    )


def downgrade() -> None:
    op.drop_table("sgroups_for_keypairs")
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_login_sessions_expires_at")

    op.drop_table("login_sessions")
    op.drop_table("sgroups_for_groups")
    with op.batch_alter_table("keypairs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_keypairs_user_uuid"))

    op.drop_table("keypairs")
    op.drop_table("association_groups_users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_domain_name"))

    op.drop_table("users")
    op.drop_table("sgroups_for_domains")
    op.drop_table("groups")
    op.drop_table("settings")
    op.drop_table("scaling_groups")
    op.drop_table("keypair_resource_policies")
    op.drop_table("domains")
