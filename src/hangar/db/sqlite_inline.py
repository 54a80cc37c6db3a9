"""aiosqlite connections that run reads on the event loop's own thread.

aiosqlite runs every call (cursor, execute, fetch, close, rollback) on a worker thread and
hands the result back through the event loop: four or more thread hops per query. Under load
each hop waits for the GIL, which the busy loop thread gives up only every switch interval
(5 ms), so a list that SQLite answers in tens of microseconds took milliseconds.

In WAL mode a read never waits for a writer, so :class:`InlineReadConnection` runs reads
directly: SELECTs, fetches, cursor creation and closing, and the rollback of a connection
that holds no transaction (the pool's reset). Everything that may wait for the write lock
(INSERT/UPDATE/DELETE, DDL, PRAGMAs, commit, the rollback of a write) stays on the worker
thread, so a busy database still never blocks the loop. SQLAlchemy uses one connection from
one task at a time and awaits each call, so both paths see the calls in order.

Written against aiosqlite 0.22 (pinned); tests/unit/test_sqlite_inline.py checks the
private hook it overrides.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite

_ALWAYS_INLINE = frozenset({"cursor", "fetchone", "fetchmany", "fetchall", "close"})
_READS = ("SELECT", "WITH")  # WITH ... SELECT; a WITH ... INSERT is caught below
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def is_read(sql: str) -> bool:
    """Whether ``sql`` only reads (and so cannot wait for SQLite's write lock in WAL mode)."""
    head = sql.lstrip()[:6].upper()
    if not head.startswith(_READS):
        return False
    return not (head.startswith("WITH") and any(w in sql.upper() for w in _WRITES))


class InlineReadConnection(aiosqlite.Connection):
    """Runs a read inline only while the worker thread has nothing queued or running: a task
    cancelled while awaiting a call leaves that call running on the worker, and the sqlite3
    connection must never be used from both threads at once (it crashes the process)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued = 0  # calls handed to the worker thread and not finished yet
        self._queued_lock = threading.Lock()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        with self._queued_lock:
            idle = self._queued == 0
        if idle and self._inline(fn, args):  # only this thread queues: the worker stays idle
            return fn(*args, **kwargs)
        with self._queued_lock:
            self._queued += 1

        def counted() -> Any:  # runs on the worker thread
            try:
                return fn(*args, **kwargs)
            finally:
                with self._queued_lock:
                    self._queued -= 1

        return await super()._execute(counted)  # type: ignore[no-untyped-call]

    def _inline(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        name = getattr(fn, "__name__", "")
        if name in _ALWAYS_INLINE:
            return True
        if name in ("execute", "executemany"):
            return bool(args) and isinstance(args[0], str) and is_read(args[0])
        return name == "rollback" and not self._conn.in_transaction


def connect(database: str | Path, *, iter_chunk_size: int = 64, **kwargs: Any) -> Any:
    """``aiosqlite.connect`` with :class:`InlineReadConnection` (SQLAlchemy's
    ``async_creator_fn``). The sqlite3 connection is used from two threads, one at a time."""
    kwargs["check_same_thread"] = False
    connector = partial(sqlite3.connect, str(database), **kwargs)
    connection = InlineReadConnection(connector, iter_chunk_size)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
    return connection


__all__ = ["InlineReadConnection", "connect", "is_read"]
