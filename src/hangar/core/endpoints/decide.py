"""What the reconcile loop does to one endpoint, decided from what it loaded (pure).

Workers: INITIALIZING -> RUNNING once the session runs and the port answers (at once
without a port); -> FAILED when the session ended, the init command failed, the port
stopped answering, or nothing answered within the start timeout; RUNNING/INITIALIZING ->
TERMINATING when no longer wanted (stop, scale down, replaced by a new generation), then
TERMINATED once the session ended.

The endpoint (spec §3.3): INITIALIZING -> RUNNING once a worker answers (or none is
wanted); STOPPING -> STOPPED once no worker is left; any failure in a row beyond the limit
-> FAILED with the last error (while no worker answers). A failed worker is replaced
after a back-off that doubles with each failure in a row. A rolling update keeps
old-generation RUNNING workers until as many new ones answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from hangar.core.endpoints.models import EndpointStatus, Worker, WorkerStatus
from hangar.core.endpoints.repo import EndpointRecord

E = EndpointStatus
W = WorkerStatus
MAX_BACKOFF = 60.0


class SessionState(StrEnum):
    NONE = "none"  # not written yet, or gone
    WAITING = "waiting"  # pending .. pulling, restarting
    RUNNING = "running"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class WorkerView:
    worker: Worker
    session: SessionState
    session_info: str | None = None
    healthy: bool = False  # the port answered just now (True when there is no port)
    exited: str | None = None  # why the init command ended badly
    probe_failures: int = 0  # failed health checks in a row while RUNNING


@dataclass(frozen=True, slots=True)
class Rules:
    start_seconds: float = 600.0
    max_failures: int = 3
    backoff_seconds: float = 2.0
    probe_failures: int = 3


@dataclass(slots=True)
class Plan:
    status: EndpointStatus
    status_info: str | None
    failures: int
    next_start_at: datetime | None
    running: list[int] = field(default_factory=list)
    fail: list[tuple[int, str]] = field(default_factory=list)
    stop: list[int] = field(default_factory=list)
    finish: list[int] = field(default_factory=list)
    start: int = 0


def _failure(view: WorkerView, port: int | None, now: datetime, rules: Rules) -> str | None:
    w = view.worker
    if view.session is SessionState.ENDED:
        return view.session_info or "its session ended"
    if view.exited:
        return view.exited
    if w.status is W.RUNNING and view.probe_failures >= rules.probe_failures:
        return f"stopped answering on port {port}"
    if w.status is W.INITIALIZING and now - w.created_at >= timedelta(seconds=rules.start_seconds):
        n = int(rules.start_seconds)
        if view.session is SessionState.RUNNING:
            return f"did not answer on port {port} within {n} s"
        return f"was not placed within {n} s (no free {w.gpu_type or 'capacity'})"
    return None


def _check_workers(ep: EndpointRecord, views: list[WorkerView], now: datetime, rules: Rules,
                   plan: Plan) -> str | None:  # fmt: skip
    """Marks running, failed and finished workers; returns the last failure's reason."""
    last = None
    for view in views:
        w = view.worker
        if w.status is W.TERMINATING:
            if view.session in (SessionState.NONE, SessionState.ENDED):
                plan.finish.append(w.id)
            continue
        if (reason := _failure(view, ep.spec.port, now, rules)) is not None:
            plan.fail.append((w.id, reason))
            plan.failures += 1
            last = f"worker {w.id} {reason}" if reason[0].islower() else reason
        elif w.status is W.INITIALIZING and view.session is SessionState.RUNNING and view.healthy:
            plan.running.append(w.id)
            plan.failures = 0
    return last


def _stop_order(workers: list[Worker]) -> list[Worker]:
    """Who goes first when some must: initializing ones (newest first), then running ones."""
    starting = sorted((w for w in workers if w.status is W.INITIALIZING), key=lambda w: -w.id)
    running = sorted((w for w in workers if w.status is W.RUNNING), key=lambda w: w.id)
    return starting + running


def _keep_count(ep: EndpointRecord, alive: list[Worker], running: set[int], now: datetime,
                plan: Plan) -> None:  # fmt: skip
    """Start or stop workers toward the target; a new generation replaces the old."""
    current = [w for w in alive if w.generation == ep.generation]
    old = [w for w in alive if w.generation != ep.generation]
    need = ep.target - len(current)
    if need > 0 and (plan.next_start_at is None or now >= plan.next_start_at):
        plan.start = need
    elif need < 0:
        plan.stop += [w.id for w in _stop_order(current)[:-need]]
    answering_new = sum(w.id in running for w in current if w.id not in plan.stop)
    keep_old = max(0, ep.target - answering_new)
    old_running = [w for w in old if w.id in running]
    plan.stop += [w.id for w in old if w.id not in running]
    plan.stop += [w.id for w in old_running[: max(0, len(old_running) - keep_old)]]


def decide(ep: EndpointRecord, views: list[WorkerView], now: datetime, rules: Rules) -> Plan:
    plan = Plan(ep.status, ep.status_info, ep.failures, ep.next_start_at)
    last = _check_workers(ep, views, now, rules, plan)
    failed = {i for i, _ in plan.fail}
    live = (v.worker for v in views if v.worker.status in (W.INITIALIZING, W.RUNNING))
    alive = [w for w in live if w.id not in failed]
    running = {w.id for w in alive if w.status is W.RUNNING} | set(plan.running)
    if plan.fail:
        delay = min(rules.backoff_seconds * 2 ** max(plan.failures - 1, 0), MAX_BACKOFF)
        plan.next_start_at = now + timedelta(seconds=delay)
    elif plan.failures == 0:
        plan.next_start_at = None
    wanted = ep.status in (E.INITIALIZING, E.RUNNING) and ep.deleted_at is None
    if wanted and plan.failures >= rules.max_failures and not running:
        plan.status, plan.status_info = E.FAILED, last or ep.status_info
        wanted = False
    if not wanted:
        plan.stop = [w.id for w in alive]
        terminating = [v for v in views if v.worker.status is W.TERMINATING]
        if plan.status is E.STOPPING and all(v.worker.id in plan.finish for v in terminating):
            plan.status = E.STOPPED if not alive else E.STOPPING
        return plan
    _keep_count(ep, alive, running, now, plan)
    up = any(i not in plan.stop for i in running)
    plan.status = E.RUNNING if up or ep.target == 0 else E.INITIALIZING
    plan.status_info = None if plan.status is E.RUNNING else (last or ep.status_info)
    return plan
