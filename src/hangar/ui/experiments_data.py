"""What the experiment pages read and how it is shaped for them (no HTTP here).

Everything goes through the tracking core's scoped reads with the viewer's principal: a task
another user may not read answers as missing, exactly as it does on the ClearML face.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from hangar.core.errors import HangarError, InvalidRequest
from hangar.core.filters import Compare, Not, Op
from hangar.core.principal import Principal
from hangar.core.services import Services
from hangar.core.tracking import query as q
from hangar.core.tracking.files import key_of_url
from hangar.core.tracking.metrics.models import Series, XAxis
from hangar.core.tracking.tasks.models import ARCHIVED, Task
from hangar.core.tracking.tasks.states import TaskStatus

PAGE_SIZE = 50
SORTS = ("name", "status", "type", "created", "last_update", "last_iteration")
LISTED = ("id", "name", "status", "type", "tags", "created", "last_update", "last_iteration",
          "project", "user")  # fmt: skip
STATUSES = tuple(s.value for s in TaskStatus if s is not TaskStatus.UNKNOWN)
MAX_COMPARED = 10
MAX_SAMPLES = 1_000_000
MAX_TAGS = 20
COMPARE_POINTS = 200_000  # compared series are downsampled when they hold more in all
MIN_AUTO_SAMPLES = 1_000


@dataclass(frozen=True)
class TaskFilters:
    """The task table's query string, checked."""

    project: str = ""
    status: str = ""
    tags: tuple[str, ...] = ()
    every_tag: bool = False  # all chosen tags, not any of them
    search: str = ""
    sort: str = "last_update"
    descending: bool = True
    archived: bool = False
    page: int = 0

    @classmethod
    def parse(cls, params: Mapping[str, str], tags: Sequence[str] = ()) -> TaskFilters:
        """``params``: the query string's single values; ``tags``: every ``tag`` value."""
        status = params.get("status", "")
        if status and status not in STATUSES:
            raise InvalidRequest(f"Status: one of {', '.join(STATUSES)}.")
        sort = params.get("sort", "-last_update") or "-last_update"
        descending = sort.startswith("-")
        if sort.lstrip("-") not in SORTS:
            raise InvalidRequest(f"Sort: one of {', '.join(SORTS)} (a leading '-': descending).")
        page = params.get("page", "0") or "0"
        if not page.isdigit() or int(page) > 100_000:
            raise InvalidRequest("Page: a number from 0.")
        return cls(
            project=params.get("project", "").strip(), status=status,
            tags=tuple(dict.fromkeys(t.strip() for t in tags if t.strip()))[:MAX_TAGS],
            every_tag=params.get("tags") == "all", search=params.get("q", "").strip()[:200],
            sort=sort.lstrip("-"), descending=descending,
            archived=params.get("archived") == "1", page=int(page),
        )  # fmt: skip

    def query(self) -> q.Query:
        conditions: list[q.Condition] = []
        if self.status:
            conditions.append(q.Equals("status", self.status))
        if self.tags:
            terms = tuple(q.Term(tag) for tag in self.tags)
            conditions.append(q.InList("tags", all_of=terms) if self.every_tag
                              else q.InList("tags", any_of=terms))  # fmt: skip
        if self.search:
            pattern = re.compile(re.escape(self.search), re.IGNORECASE)
            conditions.append(q.AnyField(("name", "id", "comment"), pattern))
        archived = Compare("system_tags", Op.HAS, ARCHIVED)
        conditions.append(archived if self.archived else Not(archived))
        return q.Query(
            conditions=tuple(conditions),
            order=((self.sort, self.descending), ("id", False)),
            offset=self.page * PAGE_SIZE,
            limit=PAGE_SIZE + 1,  # one more: is there a next page?
            fields=(*LISTED, "comment", "system_tags"),
        )

    def link(self, *, sort: str | None = None, page: int = 0, tag: str | None = None) -> str:
        """The query string of this table with another sort, page or one more tag."""
        tags = self.tags if tag is None or tag in self.tags else (*self.tags, tag)
        pairs = [("project", self.project), ("status", self.status),
                 *(("tag", t) for t in tags), ("tags", "all" if self.every_tag else ""),
                 ("q", self.search), ("archived", "1" if self.archived else ""),
                 ("sort", sort or f"{'-' if self.descending else ''}{self.sort}"),
                 ("page", str(page) if page else "")]  # fmt: skip
        return "?" + urlencode([(k, v) for k, v in pairs if v])

    def sort_link(self, column: str) -> str:
        """The ``sort`` value a column header links to (toggles the direction)."""
        if column == self.sort:
            return column if self.descending else f"-{column}"
        return f"-{column}" if column in ("created", "last_update", "last_iteration") else column


async def task_page(
    services: Services, principal: Principal, filters: TaskFilters
) -> tuple[list[dict[str, Any]], bool]:
    """A page of the task table and whether more follow."""
    projects = [filters.project] if filters.project else None
    docs = await services.tracking.experiments.task_reads.search(
        principal, filters.query(), projects=projects
    )
    return docs[:PAGE_SIZE], len(docs) > PAGE_SIZE


async def tags_in_use(services: Services, principal: Principal, project: str) -> list[str]:
    """The tags on the viewer's tasks (of ``project`` when given), for the tag filter."""
    docs = await services.tracking.experiments.task_reads.search(
        principal, q.Query(fields=("tags",)), projects=[project] if project else None
    )
    return sorted({str(t) for d in docs for t in d.get("tags") or []})


def file_link(prefix: str, url: str | None) -> str | None:
    """A link the browser may follow for a stored file: file server urls through the UI
    (read with the viewer's rights), http(s) links as they are; None for others."""
    if not url:
        return None
    if key_of_url(url) is not None:
        return f"{prefix}/experiments/file?url={quote(url, safe='')}"
    if url.startswith(("http://", "https://")):
        return url
    return None


def flat_hyperparams(task: Task) -> dict[str, str]:
    """``Section/name`` -> value of the task's hyperparameters."""
    flat: dict[str, str] = {}
    for section, params in sorted((task.hyperparams or {}).items()):
        if not isinstance(params, dict):
            continue
        for name, param in sorted(params.items()):
            value = param.get("value") if isinstance(param, dict) else param
            flat[f"{section}/{name}"] = "" if value is None else str(value)
    return flat


def flat_metrics(task: Task) -> dict[str, float | None]:
    """``metric/variant`` -> last value, from the task's metric summary."""
    flat: dict[str, float | None] = {}
    for variants in (task.last_metrics or {}).values():
        if not isinstance(variants, dict):
            continue
        for item in variants.values():
            if isinstance(item, dict) and "metric" in item:
                flat[f"{item['metric']}/{item.get('variant', '')}"] = item.get("value")
    return dict(sorted(flat.items()))


@dataclass
class DiffRow:
    name: str
    values: list[str]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def diff_rows(columns: Sequence[Mapping[str, Any]]) -> list[DiffRow]:
    """One row per key of any column; a missing value shows as empty."""
    keys = sorted({key for column in columns for key in column})
    return [DiffRow(k, ["" if c.get(k) is None else _text(c[k]) for c in columns]) for k in keys]


def _text(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def axis_of(value: str) -> XAxis:
    if value in ("", "iter"):
        return XAxis.ITER
    if value == "time":
        return XAxis.TIMESTAMP
    raise InvalidRequest("x: iter or time.")


def auto_samples(tasks: Sequence[Task]) -> int | None:
    """Points per series for comparing ``tasks`` without asking: None (every point) when
    their series hold at most COMPARE_POINTS in all, else an equal share of it. The count
    is estimated from each task's scalar series (its metric summary) and iterations."""
    series = sum(max(1, len(flat_metrics(task))) for task in tasks)
    longest = max(((task.last_iteration or 0) + 1 for task in tasks), default=0)
    if series * longest <= COMPARE_POINTS:
        return None
    return max(MIN_AUTO_SAMPLES, COMPARE_POINTS // series)


def samples_of(value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not 10 <= int(value) <= MAX_SAMPLES:
        raise InvalidRequest(f"samples: a number from 10 to {MAX_SAMPLES}.")
    return int(value)


@dataclass
class ScalarChart:
    """The series of one metric, the columns the page's charts draw."""

    metric: str
    series: list[dict[str, Any]] = field(default_factory=list)


def scalar_charts(found: Sequence[Series], names: Mapping[str, str] | None = None) -> list[Any]:
    """Series grouped by metric as compact columns: ``{"metric", "series": [{"label",
    "task", "variant", "x", "y"}]}``; ``names`` (task id -> name) prefixes labels when
    several tasks are drawn together."""
    charts: dict[str, ScalarChart] = {}
    for series in found:
        chart = charts.setdefault(series.metric, ScalarChart(series.metric))
        label = series.variant
        if names is not None:
            label = f"{names.get(series.task, series.task)} · {series.variant}"
        chart.series.append({"label": label, "task": series.task, "variant": series.variant,
                             "x": series.x, "y": series.y})  # fmt: skip
    return [{"metric": c.metric, "series": c.series} for c in charts.values()]


async def scalars(
    services: Services, principal: Principal, ids: Sequence[str], axis: XAxis, samples: int | None
) -> list[Series]:
    return await services.tracking.metric_reads.histograms(
        principal, list(ids), samples=samples, axis=axis
    )


async def tasks_of(services: Services, principal: Principal, ids: Sequence[str]) -> list[Task]:
    """The tasks in the order asked, each readable (NotFound names the first that is not)."""
    reads = services.tracking.experiments.task_reads
    return [await reads.get(principal, task_id) for task_id in ids]


def compared_ids(raw: Sequence[str]) -> list[str]:
    ids = list(dict.fromkeys(part for item in raw for part in item.split(",") if part.strip()))
    if not 2 <= len(ids) <= MAX_COMPARED:
        raise InvalidRequest(f"Compare: choose from 2 to {MAX_COMPARED} tasks.")
    return ids


def safe_error(exc: HangarError) -> str:
    return str(exc) or exc.code
