"""Serverless endpoints: created, read, updated (a new spec rolls the workers over), stopped
(workers drained and removed), started, scaled and deleted. The endpoint's own status
moves here only by the owner's request; everything about workers is the reconcile loop's
(:mod:`hangar.core.endpoints.loop`), which each write here wakes."""

from __future__ import annotations

import dataclasses
import secrets
import string
from datetime import timedelta

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.agents.service import AgentService
from hangar.core.billing.models import Metered
from hangar.core.billing.service import BillingService
from hangar.core.clock import Clock
from hangar.core.endpoints import repo
from hangar.core.endpoints.access import WorkerAccess
from hangar.core.endpoints.models import (
    LIVE_WORKERS,
    Endpoint,
    EndpointRequest,
    EndpointSpec,
    EndpointStatus,
    EndpointUpdate,
    LogPage,
    LogQuery,
    Worker,
    WorkerStatus,
)
from hangar.core.endpoints.owners import owner_to_json
from hangar.core.endpoints.placement import check_placements
from hangar.core.endpoints.repo import EndpointRecord
from hangar.core.endpoints.signals import Signals
from hangar.core.errors import Conflict, InvalidValue, NotFound, Unavailable
from hangar.core.images.auths.service import RegistryAuthService
from hangar.core.images.service import ImageService
from hangar.core.principal import Principal
from hangar.core.resources.accelerators import Accelerators
from hangar.db.engine import DbSession

S = EndpointStatus
WORKERS_SHOWN_AFTER_END = timedelta(hours=1)
DOMAIN_ALPHABET = string.ascii_lowercase + string.digits


def _missing(endpoint_id: int) -> NotFound:
    return NotFound("endpoint", f"No endpoint with id {endpoint_id}.")


def view(record: EndpointRecord, workers: list[Worker]) -> Endpoint:
    live = [w for w in workers if w.status in LIVE_WORKERS]
    return Endpoint(
        id=record.id, owner_uuid=record.owner_uuid, name=record.name, mode=record.mode,
        spec=record.spec, status=record.status, status_info=record.status_info,
        workers=record.workers, target=record.target, total_workers=len(live),
        running_workers=sum(w.status is WorkerStatus.RUNNING for w in live),
        webhook=record.webhook, domain=record.domain, created_at=record.created_at,
        updated_at=record.updated_at,
    )  # fmt: skip


def _runs_differently(old: EndpointSpec, new: EndpointSpec) -> bool:
    """Whether workers of ``new`` differ from those of ``old`` (autoscaling knobs and the
    rendered extras do not)."""
    return dataclasses.replace(new, scaling=old.scaling, extras=old.extras) != old


class EndpointService(WorkerAccess):
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        signals: Signals,
        *,
        agents: AgentService,
        accelerators: Accelerators,
        auths: RegistryAuthService,
        billing: BillingService,
        images: ImageService | None = None,
        max_workers: int = 64,
    ) -> None:
        super().__init__(sessions, clock, signals, agents)
        self._accelerators, self._auths, self._billing = accelerators, auths, billing
        self._images, self._max_workers = images, max_workers

    async def _check(self, caller: Principal, req_spec_image: str, auth_id: int | None) -> None:
        if auth_id is not None:
            try:
                await self._auths.get(caller.user_uuid, auth_id)
            except NotFound:
                raise InvalidValue("registry_auth_id", "no such registry credential") from None
        if self._images is not None:
            try:
                await self._images.resolve(req_spec_image)
            except NotFound as exc:
                raise InvalidValue("image", exc.message) from None

    def _check_count(self, count: int) -> None:
        if not 0 <= count <= self._max_workers:
            raise InvalidValue("workers", f"must be between 0 and {self._max_workers}")

    async def create(self, caller: Principal, req: EndpointRequest) -> Endpoint:
        """A new endpoint of the caller, INITIALIZING; its workers start soon. Raises
        InvalidValue (image, credential, resources, workers), DailyLimitReached."""
        self._check_count(req.workers)
        await self._billing.admit(caller, Metered.ENDPOINT)
        check_placements(await self._accelerators.groups(), req.spec.placements)
        await self._check(caller, req.spec.image, req.spec.registry_auth_id)
        for _ in range(3):  # a taken domain label (unique) is drawn again
            try:
                record = await self._insert(caller, req)
            except IntegrityError:
                continue
            except OperationalError as exc:  # SQLite's lock wait ran out under load
                raise Unavailable("The database is busy; try again.") from exc
            self._signals.poke()  # this process's loop takes it (the others are not told)
            return view(record, [])
        raise Conflict("Could not draw a free endpoint domain; try again.")

    async def _insert(self, caller: Principal, req: EndpointRequest) -> EndpointRecord:
        async with self._sessions() as db, db.begin():
            return await repo.add(
                db, owner_uuid=caller.user_uuid, owner=owner_to_json(caller), name=req.name,
                mode=req.mode, spec=req.spec, workers=req.workers, webhook=req.webhook,
                domain="".join(secrets.choice(DOMAIN_ALPHABET) for _ in range(12)),
                now=self._clock.now(),
            )  # fmt: skip

    async def _record(self, caller: Principal, endpoint_id: int) -> EndpointRecord:
        async with self._sessions() as db:
            record = await repo.find(db, endpoint_id)
        if record is None or record.owner_uuid != caller.user_uuid:
            raise _missing(endpoint_id)
        return record

    async def _view(self, record: EndpointRecord) -> Endpoint:
        async with self._sessions() as db:
            workers = await repo.live_workers(db, [record.id])
        return view(record, [w.worker for w in workers])

    async def get(self, caller: Principal, endpoint_id: int) -> Endpoint:
        """One of the caller's endpoints. Raises NotFound (another user's too)."""
        return await self._view(await self._record(caller, endpoint_id))

    async def owned(
        self, caller: Principal, *, statuses: frozenset[EndpointStatus] | None = None
    ) -> list[Endpoint]:
        """The caller's endpoints, oldest first, of the given statuses (None: any)."""
        async with self._sessions() as db:
            records = await repo.owned(db, caller.user_uuid)
            records = [r for r in records if statuses is None or r.status in statuses]
            workers = await repo.live_workers(db, [r.id for r in records])
        return [view(r, [w.worker for w in workers if w.worker.endpoint_id == r.id])
                for r in records]  # fmt: skip

    async def _change(
        self, caller: Principal, endpoint_id: int, allowed: frozenset[EndpointStatus],
        verb: str, **values: object,
    ) -> EndpointRecord:  # fmt: skip
        """Write ``values`` (with ``updated_at``) if the endpoint's status is ``allowed``;
        compare-and-set on the status read, retried when the loop moved it meanwhile."""
        for _ in range(5):
            record = await self._record(caller, endpoint_id)
            if record.status not in allowed:
                raise Conflict(f"Endpoint {endpoint_id} is {record.status.value}; cannot {verb}.")
            async with self._sessions() as db, db.begin():
                written = await repo.change(db, endpoint_id, {"status": record.status.value},
                                            updated_at=self._clock.now(), **values)  # fmt: skip
            if written:  # committed: the process whose loop holds it passes now
                self._signals.changed(endpoint_id)
                return record
        raise Conflict(f"Endpoint {endpoint_id} keeps changing; try again.")

    async def update(self, caller: Principal, endpoint_id: int, change: EndpointUpdate) -> Endpoint:
        """New name, spec (a rolling update when it differs: new workers answer before
        the old ones go), worker count, webhook. Raises NotFound, InvalidValue, Conflict
        (stopping)."""
        record = await self._record(caller, endpoint_id)
        values: dict[str, object] = {}
        if change.name is not None:
            values["name"] = change.name
        if change.spec is not None and change.spec != record.spec:
            if change.spec.placements != record.spec.placements:
                check_placements(await self._accelerators.groups(), change.spec.placements)
            await self._check(caller, change.spec.image, change.spec.registry_auth_id)
            values["spec"] = change.spec
            if _runs_differently(record.spec, change.spec):  # a rolling update
                values["generation"] = record.generation + 1
        if change.workers is not None:
            self._check_count(change.workers)
            values["workers"] = values["target"] = change.workers
        if change.webhook is not None or change.clear_webhook:
            values["webhook"] = change.webhook
        allowed = frozenset({S.INITIALIZING, S.RUNNING, S.STOPPED, S.FAILED})
        values["active_at"] = self._clock.now()  # the owner's change counts as activity
        await self._change(caller, endpoint_id, allowed, "update it", **values)
        return await self.get(caller, endpoint_id)

    async def stop(self, caller: Principal, endpoint_id: int) -> None:
        """Drain and remove the workers (STOPPING, then STOPPED); queued tasks stay.
        Idempotent on a stopped endpoint."""
        record = await self._record(caller, endpoint_id)
        if record.status in (S.STOPPING, S.STOPPED):
            return
        await self._change(caller, endpoint_id, frozenset({S.INITIALIZING, S.RUNNING, S.FAILED}),
                           "stop it", status=S.STOPPING, status_info=None)  # fmt: skip

    async def start(self, caller: Principal, endpoint_id: int) -> None:
        """STOPPED/FAILED (or stopping) -> INITIALIZING with fresh workers. Idempotent on a
        started endpoint."""
        await self._billing.admit(caller, Metered.ENDPOINT)
        record = await self._record(caller, endpoint_id)
        if record.status in (S.INITIALIZING, S.RUNNING):
            return
        target = max(record.workers, record.spec.scaling.min_workers)
        await self._change(
            caller, endpoint_id, frozenset({S.STOPPED, S.FAILED, S.STOPPING}), "start it",
            status=S.INITIALIZING, status_info=None, failures=0, next_start_at=None,
            target=target, active_at=self._clock.now(),
        )  # fmt: skip

    async def scale(self, caller: Principal, endpoint_id: int, count: int) -> None:
        """The wanted number of workers; on a stopped endpoint it is only recorded."""
        self._check_count(count)
        allowed = frozenset(set(S) - {S.STOPPING})
        await self._change(caller, endpoint_id, allowed, "scale it", workers=count, target=count,
                           active_at=self._clock.now())  # fmt: skip

    async def delete(self, caller: Principal, endpoint_id: int) -> None:
        """The endpoint is gone at once for every read; its workers are drained and removed
        by the loop. Raises NotFound."""
        record = await self._record(caller, endpoint_id)
        async with self._sessions() as db, db.begin():
            await repo.change(db, record.id, {}, deleted_at=self._clock.now(),
                              status=S.STOPPING, updated_at=self._clock.now())  # fmt: skip
        self._signals.forget(endpoint_id)
        self._signals.changed(endpoint_id)

    async def workers(
        self, caller: Principal, endpoint_id: int, *,
        statuses: frozenset[WorkerStatus] | None = None,
    ) -> list[Worker]:  # fmt: skip
        """The endpoint's live workers and those that ended in the last hour, oldest first."""
        await self._record(caller, endpoint_id)
        since = self._clock.now() - WORKERS_SHOWN_AFTER_END
        async with self._sessions() as db:
            found = await repo.workers(db, endpoint_id, ended_since=since)
        return [w.worker for w in found if statuses is None or w.worker.status in statuses]

    async def worker(self, caller: Principal, endpoint_id: int, worker_id: int) -> Worker:
        await self._record(caller, endpoint_id)
        async with self._sessions() as db:
            found = await repo.worker(db, endpoint_id, worker_id)
        if found is None:
            raise NotFound("worker", f"No worker {worker_id} in endpoint {endpoint_id}.")
        return found.worker

    async def logs(
        self, caller: Principal, endpoint_id: int, worker_id: int, query: LogQuery
    ) -> LogPage:
        """A page of the worker's log after (before) the query's cursor. Raises NotFound."""
        await self.worker(caller, endpoint_id, worker_id)
        async with self._sessions() as db:
            found = await repo.log_entries(
                db, worker_id, after=query.after_offset, after_time=query.after_time,
                backward=query.backward, start=query.start, end=query.end,
                keyword=query.keyword, limit=query.limit + 1,
            )  # fmt: skip
        return LogPage(found[: query.limit], len(found) > query.limit)
