"""Tasks of QUEUE endpoints: submitted (idempotent by taskId), read, listed and counted.
Sending them is the dispatcher's (:mod:`hangar.core.endpoint_tasks.dispatcher`), which a
new task wakes at once."""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.endpoint_tasks import repo
from hangar.core.endpoint_tasks.dispatcher import Slot
from hangar.core.endpoint_tasks.errors import NotQueueMode, QueueUnavailable, task_missing
from hangar.core.endpoint_tasks.models import (
    Task,
    TaskCounts,
    TaskPage,
    TaskRequest,
    TaskStatus,
)
from hangar.core.endpoint_tasks.repo import TaskRecord
from hangar.core.endpoint_tasks.views import task_of
from hangar.core.endpoints.models import Endpoint, EndpointStatus, ServiceMode
from hangar.core.errors import InvalidValue
from hangar.core.principal import Principal
from hangar.db.engine import DbSession

CLOSED = frozenset({EndpointStatus.STOPPING, EndpointStatus.STOPPED, EndpointStatus.FAILED})
RESERVED_KEYS = frozenset({"count"})  # a path word of the task routes


class Endpoints(Protocol):
    async def get(self, caller: Principal, endpoint_id: int) -> Endpoint: ...


class Dispatch(Protocol):
    def wake(self, endpoint_id: int) -> None:
        """Tasks are waiting on this endpoint: send them now."""

    def reserve(self, endpoint_id: int) -> Slot | None: ...

    def launch(self, slot: Slot, record: TaskRecord | None) -> None: ...


class TaskService:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        endpoints: Endpoints,
        dispatcher: Dispatch,
    ) -> None:
        self._sessions, self._clock = sessions, clock
        self._endpoints, self._dispatcher = endpoints, dispatcher

    async def _queue(self, caller: Principal, endpoint_id: int) -> Endpoint:
        endpoint = await self._endpoints.get(caller, endpoint_id)
        if endpoint.mode is not ServiceMode.QUEUE:
            raise NotQueueMode(
                f"Endpoint {endpoint_id} is in {endpoint.mode.value} mode; tasks need QUEUE."
            )
        return endpoint

    async def submit(self, caller: Principal, endpoint_id: int, req: TaskRequest) -> str:
        """Queue a task; its taskId. The same taskId again returns it and adds nothing.
        Raises NotFound (endpoint), NotQueueMode, QueueUnavailable (stopped or failed),
        InvalidValue (a reserved taskId)."""
        endpoint = await self._queue(caller, endpoint_id)
        if endpoint.status in CLOSED:
            raise QueueUnavailable(f"Endpoint {endpoint_id} is {endpoint.status.value}.")
        key = req.key or uuid.uuid4().hex
        if key in RESERVED_KEYS:
            raise InvalidValue("task_id", f"{key!r} is reserved")
        await self._store(endpoint_id, key, req, req.webhook or endpoint.webhook)
        return key

    async def _store(
        self, endpoint_id: int, key: str, req: TaskRequest, webhook: str | None
    ) -> None:
        """Stored already sent to a free worker when nothing waits before it (one write,
        the send starts at once), else queued for the dispatcher."""
        slot, record = self._dispatcher.reserve(endpoint_id), None
        now = self._clock.now()
        try:
            assign = slot.assignment(req.worker_port, req.process_uri, now) if slot else None
            async with self._sessions() as db, db.begin():
                record = await repo.add(db, endpoint_id, key, req, webhook, now, assign)
        except repo.KeyTaken:
            async with self._sessions() as db:
                if await repo.find(db, endpoint_id, key) is None:
                    raise  # not a duplicate after all
        finally:
            if slot is not None:
                self._dispatcher.launch(slot, record)
        if record is not None and slot is None:
            self._dispatcher.wake(endpoint_id)

    async def get(self, caller: Principal, endpoint_id: int, key: str) -> Task:
        """One task of the caller's QUEUE endpoint. Raises NotFound (endpoint, task)."""
        endpoint = await self._queue(caller, endpoint_id)
        async with self._sessions() as db:
            found = await repo.find(db, endpoint_id, key)
        if found is None:
            raise task_missing(key)
        return task_of(found, endpoint.name)

    async def page(
        self, caller: Principal, endpoint_id: int, *, status: TaskStatus | None,
        offset: int, limit: int,
    ) -> TaskPage:  # fmt: skip
        """Tasks newest first, of ``status`` (None: any)."""
        endpoint = await self._queue(caller, endpoint_id)
        async with self._sessions() as db:
            found, total = await repo.page(db, endpoint_id, status, offset, limit)
        return TaskPage([task_of(r, endpoint.name) for r in found], total)

    async def counts(self, caller: Principal, endpoint_id: int) -> TaskCounts:
        """How many tasks are unfinished (queued or at a worker), delivered, done."""
        await self._queue(caller, endpoint_id)
        async with self._sessions() as db:
            by = await repo.counts(db, endpoint_id)
        delivered = by.get(TaskStatus.DELIVERED, 0)
        return TaskCounts(
            processing=by.get(TaskStatus.PROCESSING, 0) + delivered, delivered=delivered,
            success=by.get(TaskStatus.SUCCESS, 0), failed=by.get(TaskStatus.FAILED, 0),
        )  # fmt: skip
