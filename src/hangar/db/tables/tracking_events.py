"""Experiment tracking: a task's events (scalars, plots, debug images, vectors, logs).

Scalars come in bulk and are read as whole histories, so they are stored compactly: each
(task, metric, variant) is one series row, which also carries the series' aggregates
(``last_metrics``, updated on every write); each point is a row of the series id, iteration,
value and timestamp, keyed by (series, iteration) so that reporting a point again overwrites
it. On SQLite the points table has no rowid: the key is the table, and a history is one range
scan. Times are milliseconds since the epoch, as clients send them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class MetricSeriesRow(Base):
    """One scalar series of a task and its aggregates (ClearML's ``last_metrics`` entry)."""

    __tablename__ = "tracking_metric_series"
    __table_args__ = (
        UniqueConstraint("task_id", "metric", "variant", name="uq_tracking_metric_series_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(Text)
    variant: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    value_sum: Mapped[float] = mapped_column(Double, default=0.0)
    last_value: Mapped[float | None] = mapped_column(Double)
    last_iter: Mapped[int | None] = mapped_column(BigInteger)
    last_ts: Mapped[int | None] = mapped_column(BigInteger)
    min_value: Mapped[float | None] = mapped_column(Double)
    min_iter: Mapped[int | None] = mapped_column(BigInteger)
    max_value: Mapped[float | None] = mapped_column(Double)
    max_iter: Mapped[int | None] = mapped_column(BigInteger)
    first_value: Mapped[float | None] = mapped_column(Double)
    first_iter: Mapped[int | None] = mapped_column(BigInteger)
    x_axis_label: Mapped[str | None] = mapped_column(Text)
    stamp: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """A random number each write to the series sets: a kept copy of its history is
    current while the stamp is the same."""


class ScalarRow(Base):
    """One point of a series; NaN values are stored as NULL."""

    __tablename__ = "tracking_scalars"
    __table_args__: Any = {"sqlite_with_rowid": False}

    series_id: Mapped[int] = mapped_column(
        ForeignKey("tracking_metric_series.id", ondelete="CASCADE"), primary_key=True
    )
    iter: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float | None] = mapped_column(Double)
    timestamp: Mapped[int] = mapped_column(BigInteger)


class EventTaskRow(Base):
    """What a task's events add up to beyond its series: last iteration, last report."""

    __tablename__ = "tracking_event_tasks"

    task_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_iteration: Mapped[int] = mapped_column(BigInteger, default=0)
    last_update: Mapped[int] = mapped_column(BigInteger)  # ms since the epoch


class PlotRow(Base):
    """A plot (a plotly figure as JSON text); large ones are stored zlib-compressed."""

    __tablename__ = "tracking_plots"
    __table_args__ = (
        UniqueConstraint("task_id", "metric", "variant", "iter", name="uq_tracking_plots_point"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(Text)
    variant: Mapped[str] = mapped_column(Text)
    iter: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    worker: Mapped[str] = mapped_column(Text)
    written_at: Mapped[int] = mapped_column(BigInteger)
    compressed: Mapped[bool] = mapped_column(Boolean)
    plot_len: Mapped[int] = mapped_column(Integer)
    plot: Mapped[bytes] = mapped_column(LargeBinary)


class DebugImageRow(Base):
    """A debug image (or other media): where it is (``url``) and its storage ``key``. The
    key comes from the metric, variant and iteration, so they identify the image (the key
    itself, unbounded, stays out of the index)."""

    __tablename__ = "tracking_debug_images"
    __table_args__ = (
        UniqueConstraint(
            "task_id", "metric", "variant", "iter", name="uq_tracking_debug_images_point"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(Text)
    variant: Mapped[str] = mapped_column(Text)
    iter: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    worker: Mapped[str] = mapped_column(Text)
    written_at: Mapped[int] = mapped_column(BigInteger)


class VectorRow(Base):
    """A vector of numbers reported at one iteration."""

    __tablename__ = "tracking_vectors"
    __table_args__ = (
        UniqueConstraint("task_id", "metric", "variant", "iter", name="uq_tracking_vectors_point"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(Text)
    variant: Mapped[str] = mapped_column(Text)
    iter: Mapped[int] = mapped_column(BigInteger)
    values: Mapped[list[Any]]
    timestamp: Mapped[int] = mapped_column(BigInteger)
    worker: Mapped[str] = mapped_column(Text)
    written_at: Mapped[int] = mapped_column(BigInteger)


class LogRow(Base):
    """A console or log line (several lines joined by newlines); never deduplicated."""

    __tablename__ = "tracking_logs"
    __table_args__ = (Index("ix_tracking_logs_task_time", "task_id", "timestamp", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(32))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[str] = mapped_column(String(32))
    worker: Mapped[str] = mapped_column(Text)
    msg: Mapped[str] = mapped_column(Text)
    written_at: Mapped[int] = mapped_column(BigInteger)
