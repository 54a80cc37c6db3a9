"""Which SQLite calls run on the event loop's thread, and the aiosqlite hook that decides it.

InlineReadConnection overrides aiosqlite 0.22's private ``Connection._execute``; if an upgrade
renames it or changes how cursors reach it, these tests fail instead of every query silently
going back to the worker thread (or worse, writes coming to the loop).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text

from hangar.db import sqlite_inline
from hangar.db.engine import create_engine


@pytest.mark.parametrize(
    ("sql", "read"),
    [
        ("SELECT 1", True),
        ("  select * from t", True),
        ("WITH x AS (SELECT 1) SELECT * FROM x", True),
        ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", False),
        ("INSERT INTO t VALUES (1)", False),
        ("UPDATE t SET a = 1", False),
        ("DELETE FROM t", False),
        ("PRAGMA journal_mode=WAL", False),
        ("CREATE TABLE t (a)", False),
        ("BEGIN", False),
    ],
)
def test_only_reads_are_inline(sql: str, read: bool) -> None:
    assert sqlite_inline.is_read(sql) is read


def test_the_overridden_aiosqlite_hook_is_still_the_one_calls_go_through() -> None:
    assert aiosqlite.__version__ == "0.22.1"
    assert list(inspect.signature(aiosqlite.Connection._execute).parameters) == [
        "self", "fn", "args", "kwargs",
    ]  # fmt: skip
    assert "self._conn._execute(" in inspect.getsource(aiosqlite.Cursor._execute)


async def test_reads_run_on_the_loop_thread_and_writes_do_not(tmp_path: Path) -> None:
    threads: dict[str, set[str]] = {"read": set(), "write": set()}

    def record(kind: str) -> None:
        threads[kind].add(threading.current_thread().name)

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            raw = await conn.get_raw_connection()
            sqlite = raw.driver_connection._conn  # type: ignore[union-attr]
            sqlite.create_function("seen", 1, lambda kind: record(kind) or 1)
            await conn.execute(text("CREATE TABLE t (a INTEGER)"))
            await conn.execute(text("INSERT INTO t SELECT seen('write')"))
            rows = (await conn.execute(text("SELECT seen('read') FROM t"))).all()
        assert rows == [(1,)]
        assert threads["read"] == {threading.current_thread().name}
        assert threading.current_thread().name not in threads["write"]
        await asyncio.sleep(0)
    finally:
        await engine.dispose()
