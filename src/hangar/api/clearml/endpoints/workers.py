"""``workers.*``: the registry agents report to, and what the UI reads of it.

``workers.get_runtime_properties`` is left unregistered on purpose: the agent probes it and
copes only with an error (the 404 envelope every unknown name gets)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hangar.api.clearml.query import regex
from hangar.api.clearml.queue_wire import WindowRequest, names_of, worker_object
from hangar.api.clearml.registry import Call, endpoint
from hangar.api.clearml.tasks_wire import Body
from hangar.core.queues.workers import WorkerService


def workers(call: Call) -> WorkerService:
    return call.services.queues.workers


def _ip(call: Call) -> str:
    client = call.request.client
    return client.host if client else ""


class WorkerRequest(Body):
    worker: str = Field(min_length=1, max_length=255)


class RegisterRequest(WorkerRequest):
    timeout: int | None = Field(default=None, ge=1, le=7 * 86400)
    queues: list[str] | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None


@endpoint("workers.register")
async def register(call: Call) -> dict[str, Any]:
    body = call.parse(RegisterRequest)
    await workers(call).register(
        call.principal, body.worker, timeout_seconds=body.timeout, queues=body.queues or [],
        tags=body.tags, system_tags=body.system_tags, ip=_ip(call),
    )  # fmt: skip
    return {}


@endpoint("workers.unregister")
async def unregister(call: Call) -> dict[str, Any]:
    body = call.parse(WorkerRequest)
    await workers(call).unregister(call.principal, body.worker)
    return {}


class StatusReportRequest(WorkerRequest):
    timestamp: int | float | None = None
    task: str | None = None
    queue: str | None = None
    queues: list[str] | None = None
    tags: list[str] | None = None
    machine_stats: dict[str, Any] | None = None


@endpoint("workers.status_report")
async def status_report(call: Call) -> dict[str, Any]:
    body = call.parse(StatusReportRequest)
    await workers(call).report(
        call.principal, body.worker, task=body.task, queue=body.queue, queues=body.queues,
        tags=body.tags, machine_stats=body.machine_stats, ip=_ip(call),
    )  # fmt: skip
    return {}


class GetAllRequest(Body):
    last_seen: int = Field(default=3600, ge=1, le=366 * 86400)
    worker_pattern: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None


@endpoint("workers.get_all")
async def get_all(call: Call) -> dict[str, Any]:
    body = call.parse(GetAllRequest)
    pattern = regex(body.worker_pattern) if body.worker_pattern else None
    found = [
        w for w in await workers(call).all(call.principal, last_seen=body.last_seen)
        if (pattern is None or pattern.search(w.name))
        and all(t in w.tags for t in body.tags or ())
        and all(t in w.system_tags for t in body.system_tags or ())
    ]  # fmt: skip
    exp = call.services.tracking.experiments
    queues = {q.id: q for q in await call.services.queues.reads.all(call.principal)}
    tasks = {t.id: t for t in await exp.task_reads.find(
        call.principal, [w.task for w in found if w.task])}  # fmt: skip
    projects = {p.id: p.name for p in await exp.project_reads.all(call.principal)} if tasks else {}
    now = call.services.clock.now()
    return {"workers": [worker_object(w, now, queues, tasks, projects) for w in found]}


class StatItem(Body):
    key: str
    category: str = "avg"


class GetStatsRequest(WindowRequest):
    items: list[StatItem]
    worker_ids: list[str] | None = None
    split_by_variant: bool = False


@endpoint("workers.get_stats")
async def get_stats(call: Call) -> dict[str, Any]:
    body = call.parse(GetStatsRequest)
    since, until = body.window()
    found = await workers(call).stats(
        call.principal, names_of(body.worker_ids), since, until, body.interval,
        [(i.key, i.category) for i in body.items], split_by_variant=body.split_by_variant,
    )  # fmt: skip
    return {"workers": [
        {"worker": name, "metrics": [
            {"metric": s.metric, "variant": s.variant, "dates": s.dates,
             "stats": [{"aggregation": how, "values": v} for how, v in s.values.items()]}
            for s in series
        ]} for name, series in found.items()
    ]}  # fmt: skip


@endpoint("workers.get_activity_report")
async def get_activity_report(call: Call) -> dict[str, Any]:
    body = call.parse(WindowRequest)
    since, until = body.window()
    found = await workers(call).activity(call.principal, since, until, body.interval)
    return {
        "total": {"dates": found.dates, "counts": found.total},
        "active": {"dates": found.dates, "counts": found.active},
    }


class MetricKeysRequest(Body):
    worker_ids: list[str] | None = None


@endpoint("workers.get_metric_keys")
async def get_metric_keys(call: Call) -> dict[str, Any]:
    body = call.parse(MetricKeysRequest)
    keys = await workers(call).metric_keys(call.principal, names_of(body.worker_ids))
    return {"categories": [{"name": "machine", "metric_keys": keys}]}
