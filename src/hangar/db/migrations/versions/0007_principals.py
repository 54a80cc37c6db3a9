"""principals: sessions owned by users, the credential kept as data; owners by user

Sessions get the credential they were created with (``credential_kind``, ``credential_id``;
existing ones: their keypair) and are unique by name per user instead of per keypair; the
access key becomes optional (sessions created with other credentials have none). Background
tasks and user dotfiles, owned by an access key until now, are owned by its user.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:50:00
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LIVE = sa.text("status NOT IN ('TERMINATED', 'CANCELLED')")
keypairs = sa.table("keypairs", sa.column("access_key", sa.String), sa.column("user_uuid", sa.Uuid))
sessions = sa.table(
    "sessions",
    sa.column("id", sa.Uuid),
    sa.column("access_key", sa.String),
    sa.column("credential_id", sa.String),
    sa.column("user_uuid", sa.Uuid),
    sa.column("name", sa.String),
    sa.column("status", sa.String),
    sa.column("created_at", sa.DateTime),
)
tasks = sa.table("background_tasks", sa.column("id", sa.Uuid), sa.column("owner", sa.String))
dotfiles = sa.table(
    "dotfiles",
    sa.column("id", sa.Uuid),
    sa.column("scope", sa.String),
    sa.column("owner", sa.String),
    sa.column("path", sa.String),
)


def _users_of_keys() -> dict[str, uuid.UUID]:
    rows = op.get_bind().execute(sa.select(keypairs.c.access_key, keypairs.c.user_uuid))
    return {key: user for key, user in rows}


def _first_keys() -> dict[str, str]:
    """user uuid (text) -> the user's first access key, for the way back."""
    rows = op.get_bind().execute(
        sa.select(keypairs.c.user_uuid, keypairs.c.access_key).order_by(keypairs.c.access_key)
    )
    found: dict[str, str] = {}
    for user, key in rows:
        found.setdefault(str(user), key)
    return found


def _rekey_owners(mapping: dict[str, str]) -> None:
    """Rewrite background task owners and user dotfile owners through ``mapping``; a dotfile
    whose path the new owner already has is dropped (the first one wins)."""
    bind = op.get_bind()
    for task_id, owner in bind.execute(sa.select(tasks.c.id, tasks.c.owner)).all():
        if owner in mapping:
            bind.execute(tasks.update().where(tasks.c.id == task_id).values(owner=mapping[owner]))
    seen: set[tuple[str, str]] = set()
    stmt = sa.select(dotfiles.c.id, dotfiles.c.owner, dotfiles.c.path).where(
        dotfiles.c.scope == "user"
    )
    for row_id, owner, path in bind.execute(stmt.order_by(dotfiles.c.id)).all():
        new = mapping.get(owner, owner)
        if (new, path) in seen:
            bind.execute(dotfiles.delete().where(dotfiles.c.id == row_id))
            continue
        seen.add((new, path))
        if new != owner:
            bind.execute(dotfiles.update().where(dotfiles.c.id == row_id).values(owner=new))


def _rename_clashes() -> None:
    """Live sessions of one user that share a name (made with two of their keypairs) keep
    it once: the later ones get their id's first eight digits appended."""
    bind = op.get_bind()
    stmt = (
        sa.select(sessions.c.id, sessions.c.user_uuid, sessions.c.name)
        .where(LIVE)
        .order_by(sessions.c.created_at, sessions.c.id)
    )
    seen: set[tuple[str, str]] = set()
    for session_id, user, name in bind.execute(stmt).all():
        if (str(user), name) in seen:
            new = f"{name[:55]}-{uuid.UUID(str(session_id)).hex[:8]}"
            bind.execute(sessions.update().where(sessions.c.id == session_id).values(name=new))
        seen.add((str(user), name))


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column(
                "credential_kind", sa.String(32), nullable=False, server_default="bai_keypair"
            )
        )
        batch.add_column(sa.Column("credential_id", sa.String(128), nullable=True))
    users = _users_of_keys()
    bind = op.get_bind()
    for session_id, key in bind.execute(sa.select(sessions.c.id, sessions.c.access_key)).all():
        values: dict[str, object] = {"credential_id": key}
        if key in users:  # the owner is the keypair's user
            values["user_uuid"] = users[key]
        bind.execute(sessions.update().where(sessions.c.id == session_id).values(**values))
    _rename_clashes()
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column("credential_kind", server_default=None)
        batch.alter_column("credential_id", existing_type=sa.String(128), nullable=False)
        batch.alter_column("access_key", existing_type=sa.String(20), nullable=True)
        batch.drop_index("uq_sessions_live_name", sqlite_where=LIVE, postgresql_where=LIVE)
        batch.create_index(
            "uq_sessions_live_name",
            ["user_uuid", "name"],
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        )
        batch.create_index(batch.f("ix_sessions_user_uuid"), ["user_uuid"], unique=False)
    _rekey_owners({key: str(user) for key, user in users.items()})


def downgrade() -> None:
    _rekey_owners(_first_keys())
    bind = op.get_bind()
    bind.execute(sessions.delete().where(sessions.c.access_key.is_(None)))
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index(batch.f("ix_sessions_user_uuid"))
        batch.drop_index("uq_sessions_live_name", sqlite_where=LIVE, postgresql_where=LIVE)
        batch.create_index(
            "uq_sessions_live_name",
            ["access_key", "name"],
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        )
        batch.alter_column("access_key", existing_type=sa.String(20), nullable=False)
        batch.drop_column("credential_id")
        batch.drop_column("credential_kind")
