"""The Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from hangar.db.engine import create_engine, downgrade, migrate
from hangar.db.tables import Base
from hangar.db.types import UTCDateTime


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def _schema_diff(conn: Connection) -> list[Any]:
    # Same comparison options as migrations/env.py uses for autogenerate.
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diff: list[Any] = compare_metadata(context, Base.metadata)
    return diff


def _state(conn: Connection) -> tuple[set[str], str | None]:
    tables = set(inspect(conn).get_table_names())
    return tables, MigrationContext.configure(conn).get_current_revision()


async def _diff(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_schema_diff)


async def _tables_and_revision(engine: AsyncEngine) -> tuple[set[str], str | None]:
    async with engine.connect() as conn:
        return await conn.run_sync(_state)


async def test_upgrade_from_empty_matches_models(engine: AsyncEngine) -> None:
    assert await _tables_and_revision(engine) == (set(), None)

    await migrate(engine, "head")

    tables, revision = await _tables_and_revision(engine)
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert revision is not None
    assert await _diff(engine) == []


async def test_downgrade_to_base_then_upgrade_again(engine: AsyncEngine) -> None:
    await migrate(engine, "head")
    _, head = await _tables_and_revision(engine)

    await downgrade(engine, "base")
    assert await _tables_and_revision(engine) == ({"alembic_version"}, None)

    await migrate(engine, "head")
    await migrate(engine, "head")  # already at head: a no-op
    assert await _tables_and_revision(engine) == (
        set(Base.metadata.tables) | {"alembic_version"},
        head,
    )
    assert await _diff(engine) == []


@pytest.mark.backends("sqlite")
async def test_sqlite_connections_use_wal_and_foreign_keys(engine: AsyncEngine) -> None:
    await migrate(engine, "head")
    async with engine.connect() as conn:
        journal_mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
        foreign_keys = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
    assert (journal_mode, foreign_keys) == ("wal", 1)


# 0007: sessions, background tasks and user dotfiles move from keypairs to users ---------

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ADA, ADA_KEY, ADA_KEY2 = uuid.uuid4(), "AKADA000000000000001", "AKADA000000000000002"
GROUP, IMAGE = uuid.uuid4(), uuid.uuid4()
S1, S2, S3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
JSONB_ANY = sa.JSON().with_variant(JSONB(), "postgresql")


def _sql_type(value: Any) -> sa.types.TypeEngine[Any]:
    if isinstance(value, uuid.UUID):
        return sa.Uuid()
    if isinstance(value, datetime):
        return UTCDateTime()
    if isinstance(value, dict | list):
        return JSONB_ANY
    if isinstance(value, bool):
        return sa.Boolean()
    return sa.Integer() if isinstance(value, int) else sa.String()


def _insert(conn: Connection, table: str, **values: Any) -> None:
    columns = [sa.column(name, _sql_type(value)) for name, value in values.items()]
    conn.execute(sa.table(table, *columns).insert().values(**values))


def _named(**extra: Any) -> dict[str, Any]:
    return {"description": "", "is_active": True, "created_at": NOW, **extra}


def _seed_0006(conn: Connection) -> None:
    """A user with two keypairs, two live sessions of the same name (one per keypair) and a
    dead one, a background task and user dotfiles of both keypairs (one path on both)."""
    _insert(conn, "domains", name="default", modified_at=NOW, total_resource_slots={},
            allowed_vfolder_hosts=[], allowed_docker_registries=[], **_named())  # fmt: skip
    _insert(conn, "groups", id=GROUP, name="default", domain_name="default", modified_at=NOW,
            total_resource_slots={}, allowed_vfolder_hosts=[], **_named())  # fmt: skip
    _insert(conn, "users", uuid=ADA, username="ada", email="ada@example.com",
            password_hash="x", need_password_change=False, full_name="Ada", description="",
            status="active", role="user", domain_name="default", created_at=NOW,
            modified_at=NOW)  # fmt: skip
    _insert(conn, "keypair_resource_policies", name="default", created_at=NOW,
            default_for_unspecified="UNLIMITED", total_resource_slots={},
            max_session_lifetime=0, max_concurrent_sessions=0, max_containers_per_session=1,
            idle_timeout=0, max_vfolder_count=0, max_vfolder_size=0,
            allowed_vfolder_hosts=[])  # fmt: skip
    for key in (ADA_KEY, ADA_KEY2):
        _insert(conn, "keypairs", access_key=key, secret_key_encrypted="x", user_uuid=ADA,
                is_active=True, is_admin=False, resource_policy="default", rate_limit=1000,
                num_queries=0, created_at=NOW, modified_at=NOW)  # fmt: skip
    _insert(conn, "scaling_groups", name="default", driver="static", driver_opts={},
            scheduler="fifo", scheduler_opts={}, **_named())  # fmt: skip
    _insert(conn, "images", id=IMAGE, registry="local", name="python", tag="latest",
            architecture="x86_64", labels={}, resource_limits=[], provider={},
            created_at=NOW)  # fmt: skip
    for sid, key, status, minute in ((S1, ADA_KEY, "RUNNING", 1), (S2, ADA_KEY2, "PENDING", 2),
                                     (S3, ADA_KEY, "TERMINATED", 0)):  # fmt: skip
        _insert(conn, "sessions", id=sid, name="notebook", access_key=key, user_uuid=ADA,
                domain_name="default", group_id=GROUP, scaling_group="default",
                image_id=IMAGE, image_ref="python:latest", session_type="interactive",
                status=status, status_history={}, status_changed=NOW, result="UNDEFINED",
                requested_slots={}, occupied_slots={}, device_allocations=[], environ={},
                mounts=[], cluster_size=1, cluster_mode="single-node",
                created_at=NOW + timedelta(minutes=minute), num_queries=0)  # fmt: skip
    _insert(conn, "background_tasks", id=uuid.uuid4(), kind="purge", owner=ADA_KEY,
            status="RUNNING", current_progress=0, total_progress=0, message="",
            created_at=NOW, updated_at=NOW)  # fmt: skip
    for key, path in ((ADA_KEY, ".vimrc"), (ADA_KEY2, ".vimrc"), (ADA_KEY2, ".bashrc")):
        _insert(conn, "dotfiles", id=uuid.uuid4(), scope="user", owner=key, path=path,
                permission="644", data=key, created_at=NOW)  # fmt: skip
    _insert(conn, "dotfiles", id=uuid.uuid4(), scope="domain", owner="default",
            path=".vimrc", permission="644", data="d", created_at=NOW)  # fmt: skip


def _rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sa.text(sql)).all()]


async def _run(engine: AsyncEngine, work: Any) -> Any:
    async with engine.begin() as conn:
        return await conn.run_sync(work)


async def test_0007_gives_sessions_tasks_and_dotfiles_to_the_keypairs_user(
    engine: AsyncEngine,
) -> None:
    await migrate(engine, "0006")
    await _run(engine, _seed_0006)

    await migrate(engine, "0007")

    def sessions(conn: Connection) -> dict[uuid.UUID, tuple[Any, ...]]:
        table = sa.table("sessions", sa.column("id", sa.Uuid()), sa.column("name"),
                         sa.column("user_uuid", sa.Uuid()), sa.column("access_key"),
                         sa.column("credential_kind"), sa.column("credential_id"))  # fmt: skip
        rows = conn.execute(sa.select(table)).all()
        return {row[0]: tuple(row[1:]) for row in rows}

    found = await _run(engine, sessions)
    assert found[S1] == ("notebook", ADA, ADA_KEY, "bai_keypair", ADA_KEY)
    # Names are unique per user now: the later live one is renamed, the dead one kept.
    assert found[S2] == (f"notebook-{S2.hex[:8]}", ADA, ADA_KEY2, "bai_keypair", ADA_KEY2)
    assert found[S3] == ("notebook", ADA, ADA_KEY, "bai_keypair", ADA_KEY)
    owners = await _run(engine, lambda c: _rows(c, "SELECT owner FROM background_tasks"))
    assert owners == [(str(ADA),)]
    dotfiles = await _run(
        engine, lambda c: sorted(_rows(c, "SELECT scope, owner, path, data FROM dotfiles"))
    )
    assert dotfiles == sorted([
        ("domain", "default", ".vimrc", "d"),
        ("user", str(ADA), ".bashrc", ADA_KEY2),
        ("user", str(ADA), ".vimrc", dotfiles_vimrc_owner(dotfiles)),
    ])  # fmt: skip

    await downgrade(engine, "0006")
    owners = await _run(engine, lambda c: _rows(c, "SELECT owner FROM background_tasks"))
    assert owners == [(min(ADA_KEY, ADA_KEY2),)]
    keys = await _run(engine, lambda c: sorted(_rows(c, "SELECT access_key FROM sessions")))
    assert keys == sorted([(ADA_KEY,), (ADA_KEY2,), (ADA_KEY,)])


def dotfiles_vimrc_owner(rows: list[tuple[Any, ...]]) -> Any:
    """The keypair whose ``.vimrc`` survived (one of the two; the other was a duplicate)."""
    [data] = [r[3] for r in rows if r[0] == "user" and r[2] == ".vimrc"]
    assert data in (ADA_KEY, ADA_KEY2)
    return data


def _bytes(current: str, **extra: Any) -> dict[str, Any]:
    return {"current": current, "capacity": None, "pct": None, "unit_hint": "bytes", **extra}


LEGACY_STAT = {  # what the core stored up to 0009: Backend.AI's stat object
    "status": "terminated",
    "version": 2,
    "cpu_used": {"current": "120", "capacity": None, "pct": None, "unit_hint": "msec"},
    "mem": _bytes("1024", **{"stats.max": "4096"}),
    "io_read": _bytes("7"),
    "io_write": _bytes("8"),
    "io_scratch_size": _bytes("250", capacity="1000", pct="25.00", **{"stats.max": "300"}),
    "net_rx": _bytes("5"),
    "net_tx": _bytes("6"),
}


async def test_0010_keeps_the_figures_of_ended_sessions_not_a_faces_stat_object(
    engine: AsyncEngine,
) -> None:
    await migrate(engine, "0006")
    await _run(engine, _seed_0006)
    stats = sa.table("sessions", sa.column("id", sa.Uuid()), sa.column("last_stat", JSONB_ANY))
    bare = {"status": "terminated", "version": 2}  # ended without figures
    for sid, stat in ((S3, LEGACY_STAT), (S2, bare)):
        await _run(engine, lambda c, s=sid, v=stat: c.execute(
            stats.update().where(stats.c.id == s).values(last_stat=v)))  # fmt: skip
    await migrate(engine, "0010")

    def stored(conn: Connection) -> dict[uuid.UUID, Any]:
        return {row[0]: row[1] for row in conn.execute(sa.select(stats)).all()}

    found = await _run(engine, stored)
    assert found[S3] == {
        "cpu_used": 120, "mem_cur_bytes": 1024, "mem_max_bytes": 4096, "net_rx_bytes": 5,
        "net_tx_bytes": 6, "io_read_bytes": 7, "io_write_bytes": 8,
        "io_cur_scratch_size": 250, "io_max_scratch_size": 300, "io_scratch_limit": 1000,
    }  # fmt: skip
    assert (found[S2], found[S1]) == ({}, None)
    await downgrade(engine, "0009")
    found = await _run(engine, stored)
    assert (found[S3], found[S2], found[S1]) == (LEGACY_STAT, bare, None)
