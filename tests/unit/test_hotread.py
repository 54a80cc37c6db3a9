"""Hot reads return what SQLAlchemy returns, per parameters, and never a result older than
the last commit (on SQLite a kept result is dropped as soon as anything is committed)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Uuid, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hangar.db import hotread
from hangar.db.engine import create_engine
from hangar.db.types import UTCDateTime

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner", Uuid, nullable=False),
    Column("name", String(32), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ended", UTCDateTime, nullable=True),
)
OWNER = bindparam("owner", type_=items.c.owner.type)
STATEMENT = select(items).where(items.c.owner == OWNER).order_by(items.c.id)
shaped: list[Mapping[str, Any]] = []


def as_tuples(rows: hotread.Rows, params: Mapping[str, Any]) -> tuple[tuple[Any, ...], ...]:
    shaped.append(params)
    return tuple(tuple(row) for row in rows)


QUERY = hotread.HotQuery(STATEMENT, as_tuples)
ALICE, BOB = uuid.uuid4(), uuid.uuid4()
AT = datetime(2026, 12, 6, 4, 30, 1, 250000, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    shaped.clear()
    yield engine
    await engine.dispose()


async def add(engine: AsyncEngine, **values: Any) -> None:
    row = {"owner": ALICE, "name": "a", "ok": True, "at": AT, "ended": None} | values
    async with engine.begin() as conn:
        await conn.execute(items.insert().values(**row))


async def test_rows_are_what_sqlalchemy_returns(engine: AsyncEngine) -> None:
    await add(engine, id=1, ended=AT)
    await add(engine, id=2, ok=False)
    async with engine.connect() as conn:
        expected = tuple(tuple(r) for r in await conn.execute(STATEMENT, {"owner": ALICE}))
    got = await QUERY.load(engine, {"owner": ALICE})
    assert got == expected
    assert got[0][1] == ALICE and isinstance(got[0][1], uuid.UUID)
    assert got[0][3] is True and got[1][3] is False
    assert got[0][4] == AT and got[0][4].tzinfo is not None and got[1][5] is None


async def test_each_owner_gets_only_their_rows(engine: AsyncEngine) -> None:
    await add(engine, id=1, name="alice's")
    await add(engine, id=2, owner=BOB, name="bob's")
    assert [r[2] for r in await QUERY.load(engine, {"owner": ALICE})] == ["alice's"]
    assert [r[2] for r in await QUERY.load(engine, {"owner": BOB})] == ["bob's"]
    assert [r[2] for r in await QUERY.load(engine, {"owner": ALICE})] == ["alice's"]


async def test_every_commit_is_seen_by_the_next_load(engine: AsyncEngine) -> None:
    assert await QUERY.load(engine, {"owner": ALICE}) == ()
    await add(engine, id=1, name="first")
    assert [r[2] for r in await QUERY.load(engine, {"owner": ALICE})] == ["first"]
    async with engine.begin() as conn:
        await conn.execute(items.update().values(name="renamed"))
    assert [r[2] for r in await QUERY.load(engine, {"owner": ALICE})] == ["renamed"]
    async with engine.begin() as conn:
        await conn.execute(items.delete())
    assert await QUERY.load(engine, {"owner": ALICE}) == ()


@pytest.mark.backends("sqlite")
async def test_sqlite_reads_once_until_something_is_committed(engine: AsyncEngine) -> None:
    await add(engine, id=1)
    for _ in range(3):
        await QUERY.load(engine, {"owner": ALICE})
    assert len(shaped) == 1
    async with engine.begin() as conn:  # a write to another table counts as well
        await conn.exec_driver_sql("CREATE TABLE other (a INTEGER)")
    await QUERY.load(engine, {"owner": ALICE})
    assert len(shaped) == 2


@pytest.mark.backends("sqlite")
async def test_the_reader_is_closed_with_the_engine(engine: AsyncEngine) -> None:
    await QUERY.load(engine, {"owner": ALICE})
    assert engine.sync_engine in hotread._READERS
    await engine.dispose()
    assert engine.sync_engine not in hotread._READERS


async def test_an_in_memory_database_reads_through_the_engine() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(items.insert().values(owner=ALICE, name="m", ok=True, at=AT))
        assert [r[2] for r in await QUERY.load(engine, {"owner": ALICE})] == ["m"]
        assert engine.sync_engine not in hotread._READERS
    finally:
        await engine.dispose()


@pytest.mark.backends("postgresql")
async def test_postgresql_reads_on_its_own_pool_and_survives_lost_connections(
    engine: AsyncEngine,
) -> None:
    await add(engine, id=1, name="kept")
    assert [r[2] for r in await QUERY.load(engine, {"owner": ALICE})] == ["kept"]
    assert engine.sync_engine in hotread._PG_READERS
    async with engine.connect() as conn:  # what a database restart does to every connection
        await conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    for _ in range(3):
        assert [r[2] for r in await QUERY.load(engine, {"owner": ALICE})] == ["kept"]
    await engine.dispose()
    assert engine.sync_engine not in hotread._PG_READERS
