"""Driver-level SQL for bulk writes: placeholders in the driver's own style."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


def marks(conn: AsyncConnection, count: int, start: int = 1) -> str:
    """``count`` comma-separated placeholders for the connection's driver (``?`` or ``$n``)."""
    style = conn.dialect.paramstyle
    if style == "qmark":
        return ", ".join("?" * count)
    if style == "numeric_dollar":
        return ", ".join(f"${i}" for i in range(start, start + count))
    if style == "format":
        return ", ".join(["%s"] * count)
    raise NotImplementedError(f"paramstyle {style}")


def mark(conn: AsyncConnection, position: int) -> str:
    """The placeholder for the ``position``-th (1-based) parameter."""
    return marks(conn, 1, position)


async def execute_many(conn: AsyncConnection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run ``sql`` once per row of parameters, as one driver call."""
    if rows:
        await conn.exec_driver_sql(sql, rows if isinstance(rows, list) else list(rows))


def greatest(conn: AsyncConnection, a: str, b: str) -> str:
    """SQL for the larger of two non-null values."""
    return f"max({a}, {b})" if conn.dialect.name == "sqlite" else f"GREATEST({a}, {b})"


_NAMED = re.compile(r"(?<!:):([a-z_]+)")


def positional(
    conn: AsyncConnection, sql: str, types: Mapping[str, str], default: str
) -> tuple[str, tuple[str, ...]]:
    """``sql`` with ``:name`` parameters in the driver's style, each cast to its SQL type
    (``types``, else ``default``: PostgreSQL must know the type of a bare ``$n IS NULL``);
    and the order the parameters' values go in."""
    return _positional(conn.dialect.paramstyle, sql, tuple(types.items()), default)


@cache
def _positional(
    style: str, sql: str, types: tuple[tuple[str, str], ...], default: str
) -> tuple[str, tuple[str, ...]]:
    kinds = dict(types)
    order: list[str] = []

    def place(match: re.Match[str]) -> str:
        name = match[1]
        if style == "numeric_dollar":
            if name not in order:
                order.append(name)
            mark = f"${order.index(name) + 1}"
        else:
            order.append(name)
            mark = "?" if style == "qmark" else "%s"
        return f"CAST({mark} AS {kinds.get(name, default)})"

    return _NAMED.sub(place, sql), tuple(order)


async def fetch_all(
    conn: AsyncConnection, sql: str, params: Sequence[Any] = ()
) -> list[Sequence[Any]]:
    """Rows of a read, straight from the driver: a long history costs the database's time
    and little more (SQLAlchemy's result rows tripled it). ``sql`` in the driver's style."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if conn.dialect.name == "sqlite":
        cursor = await driver.execute(sql, tuple(params))
        try:
            rows: list[Sequence[Any]] = await cursor.fetchall()
        finally:
            await cursor.close()
        return rows
    return list(await driver.fetch(sql, *params))
