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

Short write transactions on the hot path (a session's status moves) opt in with
:func:`inline_writes`: their statements and commit run inline too, where that cannot wait. A
first write asks for the write lock with a zero busy timeout and goes to the worker thread,
which waits as before, when another connection holds it; later writes of the transaction
hold the lock and cannot wait; in WAL mode a commit only appends to the log. The one slow
part of a commit, the automatic checkpoint (~10 ms for 1000 pages with its fsyncs), is off
for inline commits; every ``WORKER_COMMIT_EVERY``-th commit of a database that could run
inline goes to the worker thread instead, where the checkpoint runs as before.

Written against aiosqlite 0.22 (pinned); tests/unit/test_sqlite_inline.py checks the
private hook it overrides.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite

_ALWAYS_INLINE = frozenset({"cursor", "fetchone", "fetchmany", "fetchall", "close"})
_READS = ("SELECT", "WITH")  # WITH ... SELECT; a WITH ... INSERT is caught below
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
SQLITE_BUSY = 5
WORKER_COMMIT_EVERY = 64  # of the commits that could run inline, per database file
_inline_writes: ContextVar[bool] = ContextVar("hangar_sqlite_inline_writes", default=False)
_commits: dict[str, int] = {}  # inline-able commits per database file, modulo the above


@contextlib.contextmanager
def inline_writes() -> Iterator[None]:
    """Let the write transactions begun within run on the event loop's thread (see the
    module's doc): for short ones only, a few rows by primary key."""
    token = _inline_writes.set(True)
    try:
        yield
    finally:
        _inline_writes.reset(token)


def is_write(sql: str) -> bool:
    """Whether ``sql`` is a plain INSERT, UPDATE, DELETE or REPLACE."""
    return sql.lstrip()[:7].upper().startswith(_WRITES)


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

    def __init__(self, *args: Any, database: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued = 0  # calls handed to the worker thread and not finished yet
        self._queued_lock = threading.Lock()
        self._database = database  # its checkpoints are counted under this name
        self._writing = False  # a write ran in the open transaction: it holds the write lock
        self._pragmas: dict[str, int] = {}  # the connection's own values, read on first need

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        with self._queued_lock:
            idle = self._queued == 0
        if idle and self._inline(fn, args):  # only this thread queues: the worker stays idle
            return fn(*args, **kwargs)
        if idle and self._inline_write(fn, args):
            done, result = self._try_write(fn, args, kwargs)
            if done:
                return result
        with self._queued_lock:
            self._queued += 1

        def counted() -> Any:  # runs on the worker thread
            try:
                result = fn(*args, **kwargs)
                self._track(fn, args)
                return result
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

    def _inline_write(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        """A write statement or commit of a transaction begun in :func:`inline_writes`."""
        if not self._database or not _inline_writes.get():
            return False
        name = getattr(fn, "__name__", "")
        if name == "execute":
            return bool(args) and isinstance(args[0], str) and is_write(args[0])
        return name == "commit" and not self._worker_commit_due()

    def _try_write(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[bool, Any]:
        """Run a write inline where it cannot wait: (True, its result), or (False, None)
        when it must go to the worker thread (the write lock is another's)."""
        if getattr(fn, "__name__", "") == "commit":
            with self._pragma("wal_autocheckpoint", 0):
                fn(*args, **kwargs)
            self._writing = False
            return True, None
        if self._writing:  # this transaction holds the write lock already
            return True, fn(*args, **kwargs)
        try:
            with self._pragma("busy_timeout", 0):
                result = fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != SQLITE_BUSY:
                raise
            return False, None  # nothing was written: the worker tries again, waiting
        self._writing = True
        return True, result

    @contextlib.contextmanager
    def _pragma(self, name: str, value: int) -> Iterator[None]:
        """The connection's integer PRAGMA ``name`` set to ``value`` for a moment."""
        conn = self._conn
        if name not in self._pragmas:
            self._pragmas[name] = int(conn.execute(f"PRAGMA {name}").fetchone()[0])
        conn.execute(f"PRAGMA {name}={value}").close()
        try:
            yield
        finally:
            conn.execute(f"PRAGMA {name}={self._pragmas[name]}").close()

    def _track(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Note what a call that ran on the worker did to the transaction."""
        name = getattr(fn, "__name__", "")
        if name in ("commit", "rollback"):
            self._writing = False
        elif name in ("execute", "executemany") and args and isinstance(args[0], str):
            self._writing = self._writing or (is_write(args[0]) and self._conn.in_transaction)

    def _worker_commit_due(self) -> bool:
        """Count a commit that could run inline; True for every ``WORKER_COMMIT_EVERY``-th
        of the database, which goes to the worker thread (and checkpoints there if due)."""
        count = _commits.get(self._database, 0) + 1
        _commits[self._database] = count % WORKER_COMMIT_EVERY
        return count >= WORKER_COMMIT_EVERY


def connect(database: str | Path, *, iter_chunk_size: int = 64, **kwargs: Any) -> Any:
    """``aiosqlite.connect`` with :class:`InlineReadConnection` (SQLAlchemy's
    ``async_creator_fn``). The sqlite3 connection is used from two threads, one at a time."""
    kwargs["check_same_thread"] = False
    connector = partial(sqlite3.connect, str(database), **kwargs)
    path = "" if str(database) in ("", ":memory:") else str(Path(database).resolve())
    connection = InlineReadConnection(connector, iter_chunk_size, database=path)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
    return connection


__all__ = ["InlineReadConnection", "connect", "inline_writes", "is_read", "is_write"]
