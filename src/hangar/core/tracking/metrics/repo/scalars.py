"""Scalar series and their points: bulk upserts, aggregates on write, histories on read."""

from __future__ import annotations

import math
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, cast

from sqlalchemy import BigInteger, Table, delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hangar.core.tracking.contracts import TaskId
from hangar.core.tracking.metrics.models import SINGLE_VALUE_ITER, PointTuple, ScalarIn, XAxis
from hangar.core.tracking.metrics.repo.sql import (
    execute_many,
    fetch_all,
    mark,
    marks,
    positional,
)
from hangar.db.tables.tracking_events import MetricSeriesRow, ScalarRow

SERIES = cast(Table, MetricSeriesRow.__table__)
POINTS = cast(Table, ScalarRow.__table__)
SeriesKey = tuple[TaskId, str, str]  # task, metric, variant
_CHUNK = 500
_HISTORY = f"series_id = {{}} AND iter <> {SINGLE_VALUE_ITER}"  # single values are no history


@dataclass(frozen=True, slots=True)
class SeriesRef:
    id: int
    task: TaskId
    metric: str
    variant: str
    stamp: int = 0  # changes with every write to the series


@dataclass(slots=True)
class _Batch:
    """What one batch adds to a series' aggregates."""

    count: int = 0
    total: float = 0.0
    last: tuple[int, int, float | None] | None = None  # iter, timestamp, value
    low: tuple[float, int] | None = None  # value, iter
    high: tuple[float, int] | None = None
    first: tuple[int, float | None] | None = None  # iter, value
    label: str | None = None

    @classmethod
    def of(cls, points: list[ScalarIn]) -> _Batch:
        """The aggregates of ``points`` (one series), computed by builtins over the list."""
        last = max(points, key=_ITER_TIME)
        first = min(points, key=_ITER)
        labels = [p.x_axis_label for p in points if p.x_axis_label is not None]
        batch = cls(last=(last.iter, last.timestamp, last.value), first=(first.iter, first.value),
                    label=labels[-1] if labels else None)  # fmt: skip
        valued = [p for p in points if p.value is not None]
        if valued:
            low, high = min(valued, key=_VALUE), max(valued, key=_VALUE)
            batch.count = len(valued)
            batch.total = math.fsum(p.value for p in valued)  # type: ignore[misc]
            batch.low = (low.value, low.iter)  # type: ignore[assignment]
            batch.high = (high.value, high.iter)  # type: ignore[assignment]
        return batch


_FIRST, _SECOND = itemgetter(0), itemgetter(1)
_ITER_TIME = attrgetter("iter", "timestamp")
_ITER = attrgetter("iter")
_VALUE = attrgetter("value")


async def series_ids(conn: AsyncConnection, keys: Collection[SeriesKey]) -> dict[SeriesKey, int]:
    """The ids of the series ``keys``, creating those that do not exist yet."""
    found = await _find(conn, keys)
    missing = [key for key in keys if key not in found]
    if missing:
        sql = (
            "INSERT INTO tracking_metric_series (task_id, metric, variant, count, value_sum) "
            f"VALUES ({marks(conn, 5)}) ON CONFLICT (task_id, metric, variant) DO NOTHING"
        )
        await execute_many(conn, sql, [(*key, 0, 0.0) for key in missing])
        found = await _find(conn, keys)
    return found


async def _find(conn: AsyncConnection, keys: Collection[SeriesKey]) -> dict[SeriesKey, int]:
    ordered = sorted(set(keys))
    found = {}
    for start in range(0, len(ordered), _CHUNK):  # databases bound a statement's parameters
        chunk = ordered[start : start + _CHUNK]
        wanted = set(chunk)
        query = select(SERIES.c.id, SERIES.c.task_id, SERIES.c.metric, SERIES.c.variant).where(
            SERIES.c.task_id.in_({key[0] for key in chunk}),
            SERIES.c.metric.in_({key[1] for key in chunk}),
        )  # served by the unique index: only the metrics the batch names
        for sid, task, metric, variant in await conn.execute(query):
            if (task, metric, variant) in wanted:
                found[(task, metric, variant)] = sid
    return found


async def write(conn: AsyncConnection, points: Sequence[ScalarIn]) -> None:
    """Store ``points`` (a point reported again replaces the stored one) and fold them into
    their series' aggregates, in the caller's transaction."""
    groups: dict[SeriesKey, list[ScalarIn]] = {}
    for p in points:
        key = (p.task, p.metric, p.variant)
        group = groups.get(key)
        if group is None:
            groups[key] = [p]
        else:
            group.append(p)
    batches = {key: _Batch.of(group) for key, group in groups.items()}
    ids = await series_ids(conn, batches.keys())
    sql = (
        "INSERT INTO tracking_scalars (series_id, iter, value, timestamp) "
        f"VALUES ({marks(conn, 4)}) "
        "ON CONFLICT (series_id, iter) DO UPDATE SET value = excluded.value, "
        "timestamp = excluded.timestamp"
    )
    rows = [
        (sid, p.iter, p.value, p.timestamp)
        for key, group in groups.items()
        for sid in (ids[key],)
        for p in group
    ]
    if conn.dialect.name == "sqlite":
        await execute_many(conn, sql, rows)
    else:
        await _insert_columns(conn, rows)
    sql, order = positional(conn, FOLD, _TYPES, "DOUBLE PRECISION")
    folds = [_fold_params(ids[key], batch) for key, batch in batches.items()]
    await execute_many(conn, sql, [tuple(f[name] for name in order) for f in folds])


_UNNEST = (
    "INSERT INTO tracking_scalars (series_id, iter, value, timestamp) "
    "SELECT * FROM unnest($1::integer[], $2::bigint[], $3::double precision[], $4::bigint[]) "
    "ON CONFLICT (series_id, iter) DO UPDATE SET value = excluded.value, "
    "timestamp = excluded.timestamp"
)


async def _insert_columns(conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: the rows as four arrays in one statement (one round trip, not one per
    row). A point given twice keeps its last value: one statement may not update a row twice."""
    unique = list({(r[0], r[1]): r for r in rows}.values())
    await conn.exec_driver_sql(_UNNEST, tuple(list(column) for column in zip(*unique, strict=True)))


_NEWER = "(last_iter IS NULL OR last_iter < :li OR (last_iter = :li AND last_ts <= :lt))"
_EARLIER = "(first_iter IS NULL OR first_iter > :fi)"
_LOWER = "(:lo IS NOT NULL AND (min_value IS NULL OR min_value > :lo))"
_HIGHER = "(:hi IS NOT NULL AND (max_value IS NULL OR max_value < :hi))"
FOLD = f"""UPDATE tracking_metric_series SET
 count = count + :n, value_sum = value_sum + :total,
 last_value = CASE WHEN {_NEWER} THEN :lv ELSE last_value END,
 last_ts = CASE WHEN {_NEWER} THEN :lt ELSE last_ts END,
 last_iter = CASE WHEN {_NEWER} THEN :li ELSE last_iter END,
 first_value = CASE WHEN {_EARLIER} THEN :fv ELSE first_value END,
 first_iter = CASE WHEN {_EARLIER} THEN :fi ELSE first_iter END,
 min_value = CASE WHEN {_LOWER} THEN :lo ELSE min_value END,
 min_iter = CASE WHEN {_LOWER} THEN :loi ELSE min_iter END,
 max_value = CASE WHEN {_HIGHER} THEN :hi ELSE max_value END,
 max_iter = CASE WHEN {_HIGHER} THEN :hii ELSE max_iter END,
 x_axis_label = COALESCE(:label, x_axis_label), stamp = :stamp
 WHERE id = :id"""
"""One UPDATE merges a batch into a series' stored aggregates: atomic under concurrent
writers, as every right-hand side reads the row as it was."""
_TYPES = {"n": "BIGINT", "li": "BIGINT", "lt": "BIGINT", "fi": "BIGINT", "loi": "BIGINT",
          "hii": "BIGINT", "id": "INTEGER", "label": "TEXT", "stamp": "BIGINT"}  # fmt: skip


def _fold_params(sid: int, b: _Batch) -> dict[str, Any]:
    assert b.last is not None and b.first is not None
    low, low_iter = b.low or (None, None)
    high, high_iter = b.high or (None, None)
    return {
        "n": b.count, "total": b.total, "li": b.last[0], "lt": b.last[1], "lv": b.last[2],
        "fi": b.first[0], "fv": b.first[1], "lo": low, "loi": low_iter, "hi": high,
        "hii": high_iter, "label": b.label, "id": sid, "stamp": secrets.randbits(62) + 1,
    }  # fmt: skip


async def delete_tasks(conn: AsyncConnection, tasks: Collection[TaskId]) -> int:
    """Remove the series and points of ``tasks``; the number of points removed."""
    ids = select(SERIES.c.id).where(SERIES.c.task_id.in_(tasks))
    gone = await conn.execute(delete(POINTS).where(POINTS.c.series_id.in_(ids)))
    await conn.execute(delete(SERIES).where(SERIES.c.task_id.in_(tasks)))
    return int(gone.rowcount or 0)


async def find_series(
    conn: AsyncConnection,
    tasks: Collection[TaskId],
    metrics: Iterable[tuple[str, Sequence[str]]] = (),
) -> list[SeriesRef]:
    """The series of ``tasks``, sorted by task, metric, variant; narrowed to ``metrics``
    (metric name, variant names: all variants when empty) when given."""
    c = SERIES.c
    query = (
        select(c.id, c.task_id, c.metric, c.variant, c.stamp)
        .where(c.task_id.in_(tasks))
        .order_by(c.task_id, c.metric, c.variant)
    )
    wanted = {metric: set(variants) for metric, variants in metrics}
    return [
        SeriesRef(sid, task, metric, variant, stamp)
        for sid, task, metric, variant, stamp in await conn.execute(query)
        if not wanted or (metric in wanted and (not wanted[metric] or variant in wanted[metric]))
    ]


async def history(
    conn: AsyncConnection, sid: int, axis: XAxis
) -> tuple[list[int], list[float | None]]:
    """A series' points in order of ``axis``: (x, y)."""
    x = "iter" if axis is XAxis.ITER else "timestamp"
    where = _HISTORY.format(mark(conn, 1))
    sql = f"SELECT {x}, value FROM tracking_scalars WHERE {where} ORDER BY {x}"
    rows = await fetch_all(conn, sql, (sid,))
    return list(map(_FIRST, rows)), list(map(_SECOND, rows))  # columns by builtins


async def extent(conn: AsyncConnection, sid: int, axis: XAxis) -> tuple[int, int, int]:
    """How many points a series has and its smallest and largest x."""
    x = "iter" if axis is XAxis.ITER else "timestamp"
    where = _HISTORY.format(mark(conn, 1))
    sql = f"SELECT count(*), min({x}), max({x}) FROM tracking_scalars WHERE {where}"
    [(count, low, high)] = await fetch_all(conn, sql, (sid,))
    return int(count), int(low or 0), int(high or 0)


async def bucketed(
    conn: AsyncConnection, sid: int, axis: XAxis, low: int, width: int
) -> tuple[list[int], list[float | None]]:
    """The series' average y per interval of ``width`` from ``low`` (x: the interval's start)."""
    x = "iter" if axis is XAxis.ITER else "timestamp"
    sql = (
        f"SELECT ({x} - {mark(conn, 1)}) / {mark(conn, 2)} AS b, avg(value) "
        f"FROM tracking_scalars WHERE {_HISTORY.format(mark(conn, 3))} GROUP BY b ORDER BY b"
    )
    rows = await fetch_all(conn, sql, (low, width, sid))
    return [low + int(r[0]) * width for r in rows], [_number(r[1]) for r in rows]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


PointRow = tuple[int, int, float | None, int]  # series id, iter, value, timestamp


async def points(
    conn: AsyncConnection,
    series: Collection[int],
    after: tuple[int, int] | None,
    limit: int,
    *,
    desc: bool = False,
) -> list[PointRow]:
    """Points of ``series`` in order of (series, iter), or the reverse, after ``after``."""
    ids = ", ".join(str(int(sid)) for sid in series)  # our own integer ids
    where = f"series_id IN ({ids})"
    params: tuple[int, ...] = ()
    if after is not None:
        op = "<" if desc else ">"
        where += (
            f" AND (series_id {op} {mark(conn, 1)}"
            f" OR (series_id = {mark(conn, 2)} AND iter {op} {mark(conn, 3)}))"
        )
        params = (after[0], after[0], after[1])
    order = "series_id DESC, iter DESC" if desc else "series_id, iter"
    sql = (
        f"SELECT series_id, iter, value, timestamp FROM tracking_scalars WHERE {where} "
        f"ORDER BY {order} LIMIT {int(limit)}"
    )
    return cast(list[PointRow], await fetch_all(conn, sql, params))


async def rows(
    conn: AsyncConnection, sid: int, after: int | None, limit: int, *, desc: bool = False
) -> list[PointTuple]:
    """One series' points in order of iteration (or the reverse) after iteration ``after``,
    as :data:`PointTuple` rows (the compact read of a long history)."""
    where, params = f"series_id = {mark(conn, 1)}", [sid]
    if after is not None:
        where += f" AND iter {'<' if desc else '>'} {mark(conn, 2)}"
        params.append(after)
    sql = (
        f"SELECT iter, value, NULL, timestamp FROM tracking_scalars WHERE {where} "
        f"ORDER BY iter {'DESC' if desc else ''} LIMIT {int(limit)}"
    )
    found = await fetch_all(conn, sql, params)
    if found and type(found[0]) is not tuple:  # asyncpg's records
        found = [tuple(row) for row in found]
    return cast(list[PointTuple], found)


async def stamp(conn: AsyncConnection, sid: int) -> int | None:
    """The series' stamp now (None: the series is gone)."""
    found = await conn.scalar(select(SERIES.c.stamp).where(SERIES.c.id == sid))
    return None if found is None else int(found)


LastValues = tuple[float | None, float | None, int | None, int | None]


async def last_values(conn: AsyncConnection, series: Collection[int]) -> dict[int, LastValues]:
    """Per series: its last reported value, the average of its last 100 values, its last
    iteration and the time of that point."""
    found: dict[int, LastValues] = {}
    for sid in series:
        sql = (
            "SELECT avg(value), count(*) FROM (SELECT value FROM tracking_scalars WHERE "
            f"{_HISTORY.format(mark(conn, 1))} ORDER BY iter DESC LIMIT 100) AS last"
        )
        [(average, _n)] = await fetch_all(conn, sql, (sid,))
        c = SERIES.c
        query = select(c.last_value, c.last_iter, c.last_ts).where(c.id == sid)
        last, it, ts = (await conn.execute(query)).one()
        found[sid] = (_number(last), _number(average), it, ts)
    return found


async def count_points(conn: AsyncConnection, series: Collection[int]) -> int:
    query = select(func.count()).select_from(POINTS).where(POINTS.c.series_id.in_(series))
    return int(await conn.scalar(query) or 0)


async def single_values(conn: AsyncConnection, series: Collection[int]) -> list[PointRow]:
    """The points of ``series`` at the single-value iteration."""
    c = POINTS.c
    query = (
        select(c.series_id, c.iter, c.value, c.timestamp)
        .where(c.series_id.in_(series), c.iter == literal(SINGLE_VALUE_ITER, BigInteger))
        .order_by(c.series_id)
    )
    return [(r[0], r[1], r[2], r[3]) for r in await conn.execute(query)]
