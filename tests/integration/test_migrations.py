"""The Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from hangar.db.engine import create_engine, downgrade, migrate
from hangar.db.tables import Base


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
