"""A task's events as the metrics part takes and gives them: plain values, no wire forms.

Times are milliseconds since the epoch (what clients send and read). Points of one series
are identified by (task, metric, variant, iteration): writing one again replaces it. Log
lines are never deduplicated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from hangar.core.tracking.contracts import TaskId

SINGLE_VALUE_ITER = -(2**31)
"""The iteration a single value (a summary figure, not a history) is reported at."""

MAX_SERIES_SUMMARIZED = 2000
"""At most this many (metric, variant) pairs of a task appear in its summary."""


class EventKind(StrEnum):
    SCALAR = "scalar"
    VECTOR = "vector"
    PLOT = "plot"
    IMAGE = "image"
    LOG = "log"


class XAxis(StrEnum):
    """What a scalar history is plotted against."""

    ITER = "iter"
    TIMESTAMP = "timestamp"


@dataclass(slots=True)
class ScalarIn:
    task: TaskId
    metric: str
    variant: str
    iter: int
    value: float | None  # None: not a number
    timestamp: int
    x_axis_label: str | None = None


@dataclass(slots=True)
class PlotIn:
    task: TaskId
    metric: str
    variant: str
    iter: int
    timestamp: int
    worker: str
    plot: str  # a plotly figure as JSON text


@dataclass(slots=True)
class ImageIn:
    task: TaskId
    metric: str
    variant: str
    iter: int
    timestamp: int
    worker: str
    key: str
    url: str


@dataclass(slots=True)
class VectorIn:
    task: TaskId
    metric: str
    variant: str
    iter: int
    timestamp: int
    worker: str
    values: list[float | None]


@dataclass(slots=True)
class LogIn:
    task: TaskId
    timestamp: int
    level: str
    worker: str
    msg: str


EventIn = ScalarIn | PlotIn | ImageIn | VectorIn | LogIn


@dataclass(frozen=True, slots=True)
class AddResult:
    """How a batch went: events stored, events refused and why (reason -> count)."""

    added: int
    errors: int
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Series:
    """One scalar history: x (iterations or ms timestamps) and y, in order of x."""

    task: TaskId
    metric: str
    variant: str
    x: list[int]
    y: list[float | None]


@dataclass(frozen=True, slots=True)
class ScalarPoint:
    task: TaskId
    metric: str
    variant: str
    iter: int
    value: float | None
    timestamp: int


PointTuple = tuple[int, float | None, None, int]
"""A stored point as read back: iteration, value, an empty field, timestamp. The empty
field costs the database nothing and tells a writer of the rows' JSON text where the
timestamp starts (see the ClearML face's scalar writer)."""


@dataclass(frozen=True, slots=True)
class SeriesPoints:
    """Stored points of one series, as rows in reading order."""

    task: TaskId
    metric: str
    variant: str
    rows: Sequence[PointTuple]

    @classmethod
    def of(
        cls,
        key: tuple[TaskId, str, str],
        iters: Sequence[int],
        values: Sequence[float | None],
        stamps: Sequence[int],
    ) -> SeriesPoints:
        rows = [(it, v, None, ts) for it, v, ts in zip(iters, values, stamps, strict=True)]
        return cls(*key, rows)

    @property
    def iters(self) -> list[int]:
        return [row[0] for row in self.rows]


@dataclass(frozen=True, slots=True)
class Event:
    """A stored event of any kind, for reads that return events as they were reported."""

    kind: EventKind
    task: TaskId
    timestamp: int
    metric: str = ""
    variant: str = ""
    iter: int = 0
    value: float | None = None
    values: list[float | None] | None = None
    plot: str | None = None
    key: str | None = None
    url: str | None = None
    level: str | None = None
    worker: str = ""
    msg: str | None = None
    written_at: int = 0
    id: int = 0  # order within a kind's table (log lines of the same millisecond)


@dataclass(frozen=True, slots=True)
class Page:
    """Events and where the next page starts (None: nothing after these)."""

    events: list[Event]
    total: int
    after: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class MetricNames:
    """The metric names of one task for one event kind."""

    task: TaskId
    metrics: list[str]
