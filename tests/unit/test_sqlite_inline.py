"""Which SQLite calls run on the event loop's thread, and the aiosqlite hook that decides it.

InlineReadConnection overrides aiosqlite 0.22's private ``Connection._execute``; if an upgrade
renames it or changes how cursors reach it, these tests fail instead of every query silently
going back to the worker thread (or worse, writes coming to the loop).
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
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


async def fetch_all(connection: aiosqlite.Connection, sql: str) -> list[tuple[int]]:
    cursor = await connection.execute(sql)  # as SQLAlchemy reads: execute, then fetch
    return [tuple(row) for row in await cursor.fetchall()]


async def test_a_read_waits_while_a_cancelled_call_still_runs_on_the_worker(
    tmp_path: Path,
) -> None:
    """A task cancelled while awaiting a worker call leaves the call running: reads (and
    the close) then go to the worker behind it instead of using the connection at once."""
    started, release = threading.Event(), threading.Event()
    threads: list[str] = []

    def slow(value: int) -> int:
        started.set()
        release.wait(5)
        return value

    def seen(value: int) -> int:
        threads.append(threading.current_thread().name)
        return value

    connection = await sqlite_inline.connect(tmp_path / "x.db")
    try:
        connection._conn.create_function("slow", 1, slow)
        connection._conn.create_function("seen", 1, seen)
        await connection.execute("CREATE TABLE t (a INTEGER)")
        write = asyncio.ensure_future(connection.execute("INSERT INTO t VALUES (slow(1))"))
        await asyncio.to_thread(started.wait, 5)
        write.cancel()  # the INSERT goes on running on the worker thread
        read = asyncio.ensure_future(fetch_all(connection, "SELECT seen(1)"))
        await asyncio.sleep(0.05)
        assert not read.done()  # queued behind the INSERT, not run beside it
        release.set()
        assert await read == [(1,)]
        assert threads and threads[0] != threading.current_thread().name
        assert await fetch_all(connection, "SELECT seen(count(*)) FROM t") == [(1,)]
        assert threads[-1] == threading.current_thread().name  # idle again: inline
    finally:
        release.set()
        await connection.close()


async def test_short_writes_opted_in_run_on_the_loop_thread_and_wait_for_a_lock_elsewhere(
    tmp_path: Path,
) -> None:
    """In ``inline_writes`` an UPDATE and its commit run on the loop's thread; while another
    connection holds the write lock the UPDATE goes to the worker and waits there, the loop
    going on meanwhile; what was written is committed either way."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    loop_thread = threading.current_thread().name
    threads: list[str] = []
    try:
        async with engine.begin() as conn:
            await conn.execute(text("PRAGMA journal_mode=WAL"))
            await conn.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY, b INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 0)"))

        def seen(value: int) -> int:
            threads.append(threading.current_thread().name)
            return value

        async def bump() -> None:
            with sqlite_inline.inline_writes():
                async with engine.begin() as conn:
                    raw = (await conn.get_raw_connection()).driver_connection
                    raw._conn.create_function("seen", 1, seen)  # type: ignore[union-attr]
                    await conn.execute(text("UPDATE t SET b = seen(b + 1) WHERE a = 1"))

        await bump()
        assert threads == [loop_thread]
        other = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # holds the write lock
        waiting = asyncio.ensure_future(bump())
        ticks = 0
        while len(threads) < 2 and ticks < 20:  # the loop runs while the UPDATE waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not waiting.done() and ticks == 20
        other.execute("COMMIT")
        await waiting
        assert threads[1] != loop_thread
        other.close()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT b FROM t"))).scalar() == 2
    finally:
        await engine.dispose()


async def test_inline_commits_leave_checkpoints_to_a_commit_on_the_worker(
    tmp_path: Path,
) -> None:
    """An inline commit never checkpoints (~10 ms of writes and fsyncs on the loop); every
    ``WORKER_COMMIT_EVERY``-th goes to the worker, where the automatic checkpoint keeps the
    log from growing without bound."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("PRAGMA journal_mode=WAL"))
            await conn.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB)"))
        for _ in range(5 * sqlite_inline.WORKER_COMMIT_EVERY):  # ~10 pages each
            with sqlite_inline.inline_writes():
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO t (b) VALUES (randomblob(40000))"))
            async with engine.connect() as conn:
                assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 1000
        # unchecked, the log would hold ~3200 pages (13 MB); checkpointed, it is reused
        assert (tmp_path / "x.db-wal").stat().st_size < 9 << 20
    finally:
        await engine.dispose()
