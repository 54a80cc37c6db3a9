"""The workers' registry: who serves which queues, what each runs, and their machine stats
as a compact time series (one row per report: metric -> values).

A worker is alive while it was heard from (register or status report) within its timeout;
silent ones drop out of :meth:`WorkerService.all` and are forgotten a day later.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from hangar.core.clock import Clock
from hangar.core.errors import Conflict, InvalidRequest
from hangar.core.identity.service import IdentityService
from hangar.core.principal import Principal
from hangar.core.queues.models import Worker, WorkerReport
from hangar.core.queues.repo import workers as repo
from hangar.core.scoped import Database
from hangar.core.tracking.tasks.models import Task
from hangar.core.tracking.tasks.service import TaskService
from hangar.db.engine import engine_of

DEFAULT_TIMEOUT = 600
FORGET_AFTER = timedelta(days=1)
REPORTS_KEPT = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)
MAX_STATS_KEYS = 64
MAX_VALUES = 256
MAX_POINTS = 10_000
AGGREGATIONS = ("avg", "min", "max")
HANGAR_WORKER_TAG = "hangar-executor"  # system tag of the rows Hangar's own executor reports
HANGAR_WORKER_USER = "Hangar"  # the user Hangar's executor shows as (never a task's owner)


def compact_stats(machine_stats: Mapping[str, Any] | None) -> dict[str, list[float]]:
    """Machine stats as metric -> list of finite numbers; anything else is left out."""
    stats: dict[str, list[float]] = {}
    for key, value in (machine_stats or {}).items():
        values = value if isinstance(value, list) else [value]
        numbers = [float(v) for v in values[:MAX_VALUES]
                   if isinstance(v, int | float) and not isinstance(v, bool)
                   and math.isfinite(v)]  # fmt: skip
        if numbers and isinstance(key, str) and len(stats) < MAX_STATS_KEYS:
            stats[key[:64]] = numbers
    return stats


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One metric (and variant) of one worker, bucketed: values per aggregation."""

    metric: str
    variant: str
    dates: list[int]
    values: dict[str, list[float]]


@dataclass(frozen=True, slots=True)
class Activity:
    """Per bucket: how many workers reported, and how many of them ran a task."""

    dates: list[int] = field(default_factory=list)
    total: list[int] = field(default_factory=list)
    active: list[int] = field(default_factory=list)


def _bucket(at: datetime, interval: int) -> int:
    return int(at.timestamp()) // interval * interval


def _aggregate(values: list[float], how: str) -> float:
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    return sum(values) / len(values)


def series_of(
    reports: Sequence[WorkerReport],
    interval: int,
    items: Sequence[tuple[str, str]],
    *,
    split_by_variant: bool,
) -> list[MetricSeries]:
    """The reports' metrics in buckets of ``interval`` seconds (pure). A list-valued metric
    is averaged over its values unless split by variant (one series per index)."""
    wanted: dict[str, list[str]] = {}
    for key, how in items:
        wanted.setdefault(key, [])
        if how not in wanted[key]:
            wanted[key].append(how)
    points: dict[tuple[str, str], dict[int, list[float]]] = {}
    for report in reports:
        start = _bucket(report.at, interval)
        for key in wanted:
            values = report.stats.get(key)
            if not values:
                continue
            pairs = (
                [(str(i), v) for i, v in enumerate(values)]
                if split_by_variant
                else [("total", sum(values) / len(values))]
            )
            for variant, value in pairs:
                points.setdefault((key, variant), {}).setdefault(start, []).append(value)
    found = []
    for (key, variant), buckets in sorted(points.items()):
        dates = sorted(buckets)
        found.append(MetricSeries(key, variant, dates, {
            how: [round(_aggregate(buckets[d], how), 3) for d in dates] for how in wanted[key]
        }))  # fmt: skip
    return found


def activity_of(reports: Sequence[WorkerReport], interval: int) -> Activity:
    total: dict[int, set[int]] = {}
    busy: dict[int, set[int]] = {}
    for report in reports:
        start = _bucket(report.at, interval)
        total.setdefault(start, set()).add(report.worker_key)
        if report.busy:
            busy.setdefault(start, set()).add(report.worker_key)
    activity = Activity()
    for start in sorted(total):
        activity.dates.append(start)
        activity.total.append(len(total[start]))
        activity.active.append(len(busy.get(start, ())))
    return activity


def widened(since: datetime, until: datetime, interval: int) -> int:
    """``interval`` (at least 1 s), widened so the window has at most MAX_POINTS buckets."""
    if interval < 1:
        raise InvalidRequest("interval must be at least 1 second")
    if until < since:
        raise InvalidRequest("to_date is before from_date")
    return max(interval, math.ceil((until - since).total_seconds() / MAX_POINTS))


class UserNames(Protocol):
    async def names(self, users: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The display names of these users (full name, else user name)."""


class SeenTasks(Protocol):
    async def find(self, principal: Principal, ids: Collection[str]) -> list[Task]:
        """The tasks among ``ids`` the principal sees."""


def is_hangars(worker: Worker) -> bool:
    """Whether the worker is Hangar's own executor (``hangar:<scaling group>``)."""
    return HANGAR_WORKER_TAG in worker.system_tags


def as_seen(worker: Worker, unseen: Collection[str], names: Mapping[uuid.UUID, str]) -> Worker:
    """The worker as a viewer sees it (pure): Hangar's executor under a neutral name, and
    no current task or queue where the task is among ``unseen``."""
    if is_hangars(worker):
        worker = replace(worker, user=None, user_name=HANGAR_WORKER_USER)
    elif worker.user is not None and worker.user in names:
        worker = replace(worker, user_name=names[worker.user])
    if worker.task is not None and worker.task in unseen:
        worker = replace(worker, task=None, queue=None, runs_unseen=True)
    return worker


class UserNamesOf:
    """``UserNames`` from the identity part."""

    def __init__(self, identity: IdentityService) -> None:
        self._identity = identity

    async def names(self, users: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        wanted = set(users)
        if not wanted:
            return {}
        return {u.uuid: u.full_name or u.username
                for u in await self._identity.list_users() if u.uuid in wanted}  # fmt: skip


class WorkerService:
    """Workers of the principal's domain: registration, reports, and what they show."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        tasks: TaskService,
        names: UserNames | None = None,
        seen: SeenTasks | None = None,
    ) -> None:
        """``names``: how workers' users are named in what :meth:`all` returns; ``seen``:
        which tasks a viewer sees (without it a non-administrator sees no worker's task)."""
        self._engine = engine_of(db)
        self._clock = clock
        self._tasks = tasks
        self._names = names
        self._seen = seen
        self._pruned: datetime | None = None

    async def register(
        self,
        principal: Principal,
        name: str,
        *,
        timeout_seconds: int | None = None,
        queues: Sequence[str] = (),
        tags: Sequence[str] | None = None,
        system_tags: Sequence[str] | None = None,
        ip: str = "",
    ) -> Worker:
        """Registers (or refreshes) the worker ``name``; returns it."""
        return await self._upsert(
            principal, name, timeout=timeout_seconds, queues=list(queues), tags=tags,
            system_tags=system_tags, ip=ip, registering=True,
        )  # fmt: skip

    async def _upsert(
        self, principal: Principal, name: str, *, registering: bool, **fields: Any
    ) -> Worker:
        name = name.strip()
        if not name or len(name) > 255:
            raise InvalidRequest("A worker id must have 1 to 255 characters")
        timeout = fields.pop("timeout", None)
        if timeout is not None and not 1 <= timeout <= 7 * 86400:
            raise InvalidRequest("timeout must be between 1 second and a week")
        now = self._clock.now()
        values = {k: v for k, v in fields.items() if v is not None}
        values["last_activity_time"] = now
        if timeout is not None:
            values["timeout_seconds"] = timeout
        if not registering:
            values["last_report_time"] = now
        if registering:
            values["register_time"] = now
        for _ in range(2):  # a first report racing another one: the loser updates
            try:
                return await self._write(principal, name, values)
            except IntegrityError:
                continue
        raise Conflict("The worker changed meanwhile; report again")

    async def _write(self, principal: Principal, name: str, values: dict[str, Any]) -> Worker:
        async with self._engine.begin() as db:
            found = await repo.find(db, principal.domain_name, name)
            if found is None:
                await repo.insert_worker(db, {
                    "domain_name": principal.domain_name, "name": name,
                    "user_uuid": principal.user_uuid, "tags": [], "system_tags": [],
                    "queues": [], "timeout_seconds": DEFAULT_TIMEOUT,
                    "register_time": values["last_activity_time"], "ip": "", **values,
                })  # fmt: skip
            else:
                await repo.update_worker(db, found.key, values)
            worker = await repo.find(db, principal.domain_name, name)
        assert worker is not None
        return worker

    async def unregister(self, principal: Principal, name: str) -> None:
        """Forgets the worker; an unknown one is not an error."""
        async with self._engine.begin() as db:
            await repo.delete_worker(db, principal.domain_name, name)

    async def report(
        self,
        principal: Principal,
        name: str,
        *,
        task: str | None = None,
        queue: str | None = None,
        queues: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        machine_stats: Mapping[str, Any] | None = None,
        ip: str = "",
        system_tags: Sequence[str] | None = None,
    ) -> Worker:
        """A status report: the worker is alive, runs ``task`` (from ``queue``) or nothing;
        the task (which the principal must be able to change) records its last worker."""
        now = self._clock.now()
        if task is not None:
            await self._tasks.change(
                principal, task,
                lambda t: {"last_worker": name[:255], "last_worker_report": now},
            )  # fmt: skip
        worker = await self._upsert(
            principal, name, registering=False, task_id=task, queue_id=queue,
            queues=list(queues) if queues is not None else None, tags=tags, ip=ip or None,
            system_tags=list(system_tags) if system_tags is not None else None,
        )  # fmt: skip
        if task is None:
            async with self._engine.begin() as db:  # a report without a task: idle now
                await repo.update_worker(db, worker.key, {"task_id": None, "queue_id": None})
        async with self._engine.begin() as db:
            await repo.add_report(db, worker.key, now, task is not None,
                                  compact_stats(machine_stats))  # fmt: skip
        await self._prune(now)
        return worker

    async def _prune(self, now: datetime) -> None:
        if self._pruned is not None and now - self._pruned < PRUNE_EVERY:
            return
        self._pruned = now
        async with self._engine.begin() as db:
            await repo.prune_reports(db, now - REPORTS_KEPT)
            await repo.delete_silent(db, now - FORGET_AFTER)

    async def all(
        self,
        principal: Principal,
        *,
        last_seen: int = 3600,
        names: Collection[str] | None = None,
    ) -> list[Worker]:
        """The domain's workers heard from within ``last_seen`` seconds and their timeout, as
        the principal may see them (see :func:`as_seen`): a non-administrator sees a worker's
        current task and queue only where it sees that task."""
        now = self._clock.now()
        async with self._engine.connect() as db:
            found = await repo.workers(
                db, principal.domain_name, since=now - timedelta(seconds=last_seen), names=names
            )
        alive = [w for w in found if w.alive(now)]
        unseen = await self._unseen(principal, alive)
        users = {w.user for w in alive if w.user is not None and not is_hangars(w)}
        named = await self._names.names(users) if self._names is not None else {}
        return [as_seen(w, unseen, named) for w in alive]

    async def _unseen(self, principal: Principal, workers: Sequence[Worker]) -> set[str]:
        """The workers' current tasks the principal may not see (an administrator sees all
        of its domain's)."""
        running = {w.task for w in workers if w.task}
        if not running or principal.is_admin:
            return set()
        if self._seen is None:
            return running
        return running - {t.id for t in await self._seen.find(principal, running)}

    async def _reports(
        self, principal: Principal, names: Collection[str] | None, since: datetime,
        until: datetime,
    ) -> tuple[dict[int, Worker], list[WorkerReport]]:  # fmt: skip
        async with self._engine.connect() as db:
            workers = await repo.workers(
                db, principal.domain_name, since=since - FORGET_AFTER, names=names
            )
            keys = {w.key: w for w in workers}
            found = await repo.reports(db, list(keys), since, until) if keys else []
        return keys, found

    async def stats(
        self,
        principal: Principal,
        names: Collection[str] | None,
        since: datetime,
        until: datetime,
        interval: int,
        items: Sequence[tuple[str, str]],
        *,
        split_by_variant: bool = False,
    ) -> dict[str, list[MetricSeries]]:
        """Per worker name: the asked metrics (key, aggregation avg/min/max) bucketed."""
        interval = widened(since, until, interval)
        for _, how in items:
            if how not in AGGREGATIONS:
                raise InvalidRequest(f"Unknown aggregation {how!r}: use avg, min or max")
        keys, found = await self._reports(principal, names, since, until)
        by_worker: dict[int, list[WorkerReport]] = {}
        for report in found:
            by_worker.setdefault(report.worker_key, []).append(report)
        return {
            keys[key].name: series_of(reports, interval, items, split_by_variant=split_by_variant)
            for key, reports in by_worker.items()
        }

    async def metric_keys(self, principal: Principal, names: Collection[str] | None) -> list[str]:
        """The metric names the workers reported in the last day."""
        now = self._clock.now()
        _, found = await self._reports(principal, names, now - timedelta(days=1), now)
        return sorted({key for report in found for key in report.stats})

    async def activity(
        self, principal: Principal, since: datetime, until: datetime, interval: int
    ) -> Activity:
        interval = widened(since, until, interval)
        _, found = await self._reports(principal, None, since, until)
        return activity_of(found, interval)
