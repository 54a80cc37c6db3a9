"""The endpoints' reconcile loop: claim the endpoints that have something to do (a lease
per endpoint, so two server processes never act on one), load each with its workers'
sessions and health, decide (:func:`~hangar.core.endpoints.decide.decide`), apply, release.
A write to an endpoint, a load hint or a worker reported dead wakes it; otherwise it runs
every ``check_seconds``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.service import ComputeService
from hangar.core.compute.states import SessionStatus
from hangar.core.endpoints import repo
from hangar.core.endpoints.autoscale import autoscaled
from hangar.core.endpoints.decide import Plan, Rules, SessionState, WorkerView, decide
from hangar.core.endpoints.models import EndpointStatus, WorkerChange, WorkerStatus
from hangar.core.endpoints.repo import EndpointRecord, WorkerRecord
from hangar.core.endpoints.runner import WorkerRunner
from hangar.core.endpoints.signals import Signals
from hangar.core.errors import NotFound
from hangar.core.events import Event, EventBus, EventKind, Matcher, SessionChange
from hangar.core.loops import swallowed
from hangar.core.reconcile import Leases
from hangar.db.engine import DbSession

W = WorkerStatus
RUNNING_CHECK_PASSES = 5
STARTING_PASS = 0.1  # seconds between passes while a worker's port is awaited
WORKER_NAME = re.compile(r"ep\d+-w\d+$")
_WAITING = frozenset({SessionStatus.PENDING, SessionStatus.SCHEDULED, SessionStatus.PREPARING,
                      SessionStatus.PULLING, SessionStatus.RESTARTING})  # fmt: skip


def session_state(session: ComputeSession | None) -> SessionState:
    if session is None:
        return SessionState.NONE
    if session.status is SessionStatus.RUNNING:
        return SessionState.RUNNING
    return SessionState.WAITING if session.status in _WAITING else SessionState.ENDED


def _ended_reason(session: ComputeSession) -> str:
    info = session.status_info or session.status.value.lower()
    return f"its session ended ({info})"


class EndpointLoop:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        signals: Signals,
        runner: WorkerRunner,
        compute: ComputeService,
        leases: Leases,
        bus: EventBus,
        *,
        rules: Rules,
        check_seconds: float,
    ) -> None:
        self._sessions, self._clock, self._signals = sessions, clock, signals
        self._runner, self._compute, self._leases = runner, compute, leases
        self._rules, self._every, self._bus = rules, check_seconds, bus
        self._starting = False  # a worker's session runs and its port does not answer yet
        self._probe_failures: dict[int, int] = {}
        self._probed: dict[int, float] = {}  # RUNNING worker -> when its port was last checked

    async def run(self) -> None:
        """Reconcile until cancelled; while a worker starts, pass often (its port is
        checked each pass)."""
        watcher = asyncio.create_task(self._watch_sessions())
        try:
            while True:
                self._starting = False
                try:
                    await self.run_once()
                except Exception as exc:  # the next pass tries again
                    swallowed("endpoints pass", exc)
                await self._signals.wait(min(self._every, STARTING_PASS) if self._starting
                                         else self._every)  # fmt: skip
        finally:
            watcher.cancel()
            await self._runner.close()
            with contextlib.suppress(Exception):  # another process takes them over at once
                async with self._sessions() as db, db.begin():
                    await repo.release(db, self._leases)

    async def _watch_sessions(self) -> None:
        """A worker's session started or ended: pass now rather than at the next tick."""
        kinds = frozenset({EventKind.SESSION_STARTED, EventKind.SESSION_TERMINATED,
                           EventKind.SESSION_FAILED, EventKind.SESSION_CANCELLED})  # fmt: skip

        def worker_session(event: Event) -> bool:
            payload = event.payload
            return isinstance(payload, SessionChange) and bool(
                WORKER_NAME.match(payload.session_name)
            )

        async with self._bus.subscribe(Matcher(kinds, where=worker_session)) as events:
            while True:
                await events.get()
                self._signals.poke()

    async def run_once(self) -> int:
        """One pass over the endpoints this process holds or can take; their leases stay
        with it (renewed each pass) so one process follows their workers."""
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            ids = await repo.claim(db, self._leases, now)
        for endpoint_id in ids:
            try:
                await self._reconcile(endpoint_id)
            except Exception as exc:  # one endpoint's failure must not stop the others
                swallowed(f"endpoint {endpoint_id}", exc)
        return len(ids)

    async def _session(self, ep: EndpointRecord, record: WorkerRecord) -> ComputeSession | None:
        session_id = record.worker.session_id
        if session_id is None:
            return await self._runner.lost_session(ep, record.worker.id)
        try:
            return await self._compute.get(session_id)
        except NotFound:
            return None

    async def _view(
        self, ep: EndpointRecord, record: WorkerRecord, session: ComputeSession | None,
        suspects: set[int],
    ) -> WorkerView:  # fmt: skip
        w, state = record.worker, session_state(session)
        exited = self._runner.exited.get(w.id)
        if state is SessionState.ENDED and session is not None:
            return WorkerView(w, state, _ended_reason(session), False, exited)
        if state is not SessionState.RUNNING or session is None or w.status is W.TERMINATING:
            return WorkerView(w, state, None, False, exited)
        if w.status is W.RUNNING and w.id not in suspects and not self._probe_due(w.id):
            return WorkerView(w, state, None, True, exited, self._probe_failures.get(w.id, 0))
        healthy = await self._runner.probe(session, ep.spec)
        self._starting = self._starting or (w.status is W.INITIALIZING and not healthy)
        failures = 0
        if w.status is W.RUNNING:
            failures = 0 if healthy else self._probe_failures.get(w.id, 0) + 1
            if not healthy and w.id in suspects:  # a caller saw it refuse: one more will do
                failures = max(failures, self._rules.probe_failures - 1)
            self._probe_failures[w.id] = failures
        return WorkerView(w, state, None, healthy, exited, failures)

    def _probe_due(self, worker_id: int) -> bool:
        """RUNNING workers are checked every few passes (each check is a request the
        worker serves, and logs)."""
        now = time.monotonic()
        if now - self._probed.get(worker_id, 0.0) < self._every * RUNNING_CHECK_PASSES:
            return False
        self._probed[worker_id] = now
        return True

    async def _reconcile(self, endpoint_id: int) -> None:
        async with self._sessions() as db:
            ep = await repo.load(db, endpoint_id)
            records = await repo.live_workers(db, [endpoint_id])
        if ep is None:
            return
        suspects = self._signals.take_suspects()
        sessions = {r.worker.id: await self._session(ep, r) for r in records}
        views = [await self._view(ep, r, sessions[r.worker.id], suspects) for r in records]
        now = self._clock.now()
        load = self._signals.load(endpoint_id)
        active = max((t for t in (ep.active_at, load.seen_at) if t is not None), default=None)
        target = ep.target
        if ep.deleted_at is None and ep.spec.scaling.enabled:
            target = autoscaled(ep.spec.scaling, ep.target, load.total, active, load.woken_at, now)
        plan = decide(dataclasses.replace(ep, target=target), views, now, self._rules)
        await self._apply_workers(ep, plan, records, sessions, now)
        await self._start(ep, plan, now)
        await self._write_endpoint(ep, plan, target, active, now)

    async def _apply_workers(
        self, ep: EndpointRecord, plan: Plan, records: list[WorkerRecord],
        sessions: dict[int, ComputeSession | None], now: datetime,
    ) -> None:  # fmt: skip
        by_id = {r.worker.id: r for r in records}
        for worker_id in plan.running:
            session = sessions[worker_id]
            async with self._sessions() as db, db.begin():
                agent = session.agent_id if session else None
                await repo.set_worker(db, worker_id, W.INITIALIZING, status=W.RUNNING,
                                      running_at=now, agent_id=agent)  # fmt: skip
            self._signals.publish(WorkerChange(ep.id, worker_id, W.RUNNING))
        for worker_id, reason in plan.fail:
            await self._end(ep.id, worker_id, sessions[worker_id], W.FAILED, reason, now)
        for worker_id in plan.stop:
            await self._end(ep.id, worker_id, sessions[worker_id], W.TERMINATING, None, now)
        for worker_id in plan.finish:
            await self._end(ep.id, worker_id, None, W.TERMINATED, None, now)
        gone = {*plan.stop, *plan.finish, *(i for i, _ in plan.fail)}
        for worker_id, record in by_id.items():
            session = sessions[worker_id]
            if worker_id in gone or session is None or session.status is not SessionStatus.RUNNING:
                continue
            self._runner.follow(record.worker, session, ep.spec.init_command, record.log_offset)
            self._runner.touch(session)

    async def _end(
        self, endpoint_id: int, worker_id: int, session: ComputeSession | None,
        status: WorkerStatus, reason: str | None, now: datetime,
    ) -> None:  # fmt: skip
        values: dict[str, Any] = {"status": status}
        if status is not W.TERMINATING:
            values["ended_at"] = now
        if reason is not None:
            values["status_info"] = reason
        async with self._sessions() as db, db.begin():
            await repo.set_worker(db, worker_id, **values)
        self._probe_failures.pop(worker_id, None)
        self._probed.pop(worker_id, None)
        if status is not W.TERMINATED:
            await self._runner.stop(worker_id, session, "endpoint-worker-" + status.value.lower())
        self._signals.publish(WorkerChange(endpoint_id, worker_id, status, reason))

    async def _start(self, ep: EndpointRecord, plan: Plan, now: datetime) -> None:
        for _ in range(plan.start):
            worker, error = await self._runner.start(ep)
            if error is not None:
                await self._end(ep.id, worker.id, None, W.FAILED, error, now)
                plan.failures += 1
                plan.status_info = f"worker {worker.id} {error}"
                plan.next_start_at = now + self._backoff(plan.failures)
                break

    def _backoff(self, failures: int) -> timedelta:
        seconds = min(self._rules.backoff_seconds * 2 ** max(failures - 1, 0), 60.0)
        return timedelta(seconds=seconds)

    async def _write_endpoint(
        self, ep: EndpointRecord, plan: Plan, target: int, active: datetime | None,
        now: datetime,
    ) -> None:  # fmt: skip
        values: dict[str, object] = {
            "status": plan.status, "status_info": plan.status_info, "failures": plan.failures,
            "next_start_at": plan.next_start_at, "target": target, "active_at": active,
        }  # fmt: skip
        if plan.status is not ep.status:
            values["updated_at"] = now
        guard = {"status": ep.status.value, "generation": ep.generation, "workers": ep.workers,
                 "lease_owner": self._leases.owner}  # fmt: skip
        async with self._sessions() as db, db.begin():
            written = await repo.change(db, ep.id, guard, **values)
            if written and ep.deleted_at is not None and plan.status is EndpointStatus.STOPPED:
                await repo.drop_logs(db, ep.id)  # nobody can read them any more
