"""Hot reads: one Core SELECT that clients poll, answered at the lowest cost.

A list that every client polls (``GET /folders``) spent most of its time in SQLAlchemy's
per-call machinery rather than in the database: pool checkout and reset, greenlet switches,
the execution context, the result object. A :class:`HotQuery` keeps the statement's SQL, its
parameter order and its columns' type processors. On a SQLite file database it runs on a
connection of its own that only ever reads, on the event loop's thread (in WAL mode a read
never waits for a writer: the reasoning of :mod:`hangar.db.sqlite_inline`), and it keeps
each result, shaped into the caller's value, until the database changes: SQLite's
``PRAGMA data_version`` tells that connection whether any other connection (or process) has
committed since. On PostgreSQL (asyncpg) it runs on a small pool of its own, one round trip
per call: no ping, no BEGIN/ROLLBACK, no reset, a statement asyncpg prepared once per
connection; a lost connection sends that call through the engine and the next one to a new
pool. Values come back as SQLAlchemy returns them. Elsewhere (``:memory:``) every call runs
through the engine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, Select, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import JSON, TypeEngine

T = TypeVar("T")
Rows = Sequence[Sequence[Any]]
_Process = Callable[[Any], Any]
_Columns = tuple[tuple[int, _Process], ...]  # (index, result processor)
_SHARED_VALUES = 4096  # distinct converted values kept per column
_KEPT_RESULTS = 1024  # results kept per database until it changes
_PG_CONNECTIONS = 4  # a hot read is one short round trip: a few connections serve many clients
_IMMUTABLE = frozenset({uuid.UUID, datetime})


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    params: tuple[tuple[str, _Process | None], ...]  # in the order of the placeholders
    columns: _Columns


def _shared(process: _Process, kind: TypeEngine[Any]) -> _Process:
    """A column's result processor; for immutable values, one that converts each distinct
    raw value once (uuid.UUID and datetime parsing cost microseconds per value)."""
    try:
        immutable = kind.python_type in _IMMUTABLE
    except NotImplementedError:
        immutable = False
    return lru_cache(maxsize=_SHARED_VALUES)(process) if immutable else process


def _prepare(statement: Select[Any], dialect: Dialect) -> _Prepared:
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None:
        raise ValueError("hot reads need a dialect with positional parameters")
    binds = compiled.binds
    if any(bind.expanding for bind in binds.values()):
        raise ValueError("hot reads take no expanding (IN list) parameters")
    params = tuple(
        (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in compiled.positiontup
    )
    columns = []
    for index, column in enumerate(statement.selected_columns):
        if isinstance(column.type, JSON):  # asyncpg decodes them with codecs of SQLAlchemy's
            raise ValueError("hot reads select no JSON columns")
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            columns.append((index, _shared(process, column.type)))
    return _Prepared(compiled.string, params, tuple(columns))


def _processed(row: Sequence[Any], columns: _Columns) -> tuple[Any, ...]:
    values = list(row)
    for index, process in columns:
        value = values[index]
        if value is not None:
            values[index] = process(value)
    return tuple(values)


@dataclass
class _Reader:
    """A read-only connection to one SQLite file and the results read through it."""

    connection: sqlite3.Connection
    version: int = -1
    results: dict[Hashable, Any] = field(default_factory=dict)

    def current(self) -> dict[Hashable, Any]:
        """The kept results, emptied first if anything was committed since they were read.
        Checked before the read: a commit that lands during it only costs a re-read."""
        (version,) = self.connection.execute("PRAGMA data_version").fetchone()
        if version != self.version or len(self.results) >= _KEPT_RESULTS:
            self.results.clear()
            self.version = version
        return self.results

    def rows(self, prepared: _Prepared, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        values = [
            process(params[name]) if process else params[name] for name, process in prepared.params
        ]
        raw = self.connection.execute(prepared.sql, values).fetchall()
        return [_processed(row, prepared.columns) for row in raw]


_READERS: weakref.WeakKeyDictionary[Engine, _Reader] = weakref.WeakKeyDictionary()


def _close_reader(engine: Engine) -> None:
    reader = _READERS.pop(engine, None)
    if reader is not None:
        reader.connection.close()


def _reader(engine: Engine) -> _Reader | None:
    """The engine's reader, opened on first use and closed when the engine is disposed (or
    collected); None where the engine is not a SQLite file."""
    reader = _READERS.get(engine)
    if reader is not None:
        return reader
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    # Autocommit: each SELECT is its own read transaction and sees every commit so far.
    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA query_only=ON")
    connection.execute("PRAGMA busy_timeout=10000")
    reader = _READERS[engine] = _Reader(connection)
    weakref.finalize(engine, connection.close)
    if not event.contains(engine, "engine_disposed", _close_reader):
        event.listen(engine, "engine_disposed", _close_reader)
    return reader


class _PgReader:
    """A few asyncpg connections of the engine's database, for hot reads only (they change
    no session state, so a released connection needs no reset)."""

    def __init__(self, engine: Engine) -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool: Any = None
        self._opening: asyncio.Future[Any] | None = None

    async def _opened(self) -> Any:
        import asyncpg  # type: ignore[import-untyped]

        if self._opening is None:
            self._opening = asyncio.ensure_future(
                asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=_PG_CONNECTIONS, reset=_no_reset
                )
            )
        opening = self._opening
        try:
            self._pool = await asyncio.shield(opening)
        except Exception:
            if opening.done() and not opening.cancelled() and self._opening is opening:
                self._opening = None  # failed: the next call tries again
            raise
        return self._pool

    async def rows(self, prepared: _Prepared, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Raises OSError or asyncpg's connection errors when the database is out of reach."""
        pool = self._pool if self._pool is not None else await self._opened()
        values = [
            process(params[name]) if process else params[name] for name, process in prepared.params
        ]
        try:
            raw = await pool.fetch(prepared.sql, *values)
        except _lost():
            if pool is self._pool:
                self.close()
            raise
        return [_processed(row, prepared.columns) for row in raw]

    def close(self) -> None:
        """Ends the pool's connections at once; the next call opens a new pool."""
        pool, self._pool, self._opening = self._pool, None, None
        if pool is not None:
            pool.terminate()


async def _no_reset(_connection: Any) -> None:
    return None


def _lost() -> tuple[type[BaseException], ...]:
    import asyncpg

    # InternalClientError: a connection the server ended while it was idle may still be
    # consuming that error when it is next used.
    return (
        OSError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
    )


_PG_READERS: weakref.WeakKeyDictionary[Engine, _PgReader] = weakref.WeakKeyDictionary()


def _close_pg_reader(engine: Engine) -> None:
    reader = _PG_READERS.pop(engine, None)
    if reader is not None:
        reader.close()


def _pg_reader(engine: Engine) -> _PgReader | None:
    """The engine's asyncpg reader, made on first use and closed with the engine; None
    where the engine does not speak to PostgreSQL through asyncpg."""
    reader = _PG_READERS.get(engine)
    if reader is None and engine.dialect.name == "postgresql" and engine.driver == "asyncpg":
        reader = _PG_READERS[engine] = _PgReader(engine)
        weakref.finalize(engine, reader.close)
        if not event.contains(engine, "engine_disposed", _close_pg_reader):
            event.listen(engine, "engine_disposed", _close_pg_reader)
    return reader


class HotQuery(Generic[T]):
    """A SELECT run often, its rows shaped by ``shape(rows, params)`` into the value
    :meth:`load` returns. That value may be shared by every caller with the same parameters
    until the database changes: ``shape`` must build an immutable one (tuples, frozen
    dataclasses) from the rows and parameters alone."""

    def __init__(self, statement: Select[Any], shape: Callable[[Rows, Mapping[str, Any]], T]):
        self.statement = statement
        self.shape = shape
        self._prepared: dict[str, _Prepared] = {}  # by dialect name

    def _for(self, dialect: Dialect) -> _Prepared:
        prepared = self._prepared.get(dialect.name)
        if prepared is None:
            prepared = self._prepared[dialect.name] = _prepare(self.statement, dialect)
        return prepared

    async def load(self, engine: AsyncEngine, params: Mapping[str, Any]) -> T:
        """The shaped result for ``params`` (hashable values) as of now."""
        sync = engine.sync_engine
        reader = _reader(sync)
        if reader is not None:
            results = reader.current()
            key = (self, *sorted(params.items()))
            if key not in results:
                rows = reader.rows(self._for(sync.dialect), params)
                results[key] = self.shape(rows, params)
            return results[key]  # type: ignore[no-any-return]
        pg = _pg_reader(sync)
        if pg is not None:
            try:
                return self.shape(await pg.rows(self._for(sync.dialect), params), params)
            except _lost():
                pass  # the engine's pool pings, reconnects and raises as every query does
        async with engine.connect() as conn:
            found = (await conn.execute(self.statement, dict(params))).all()
        return self.shape(found, params)


__all__ = ["HotQuery", "Rows"]
