"""Queue writes: administration, entries in order, moves, and the atomic pop.

Entries change with the queue's row taken first (see :mod:`.repo.queues`), and every change
records a sample of the queue's length and wait. :meth:`QueueService.pop` is what workers
(Hangar's executor, the face's ``queues.get_next_task``) call: two callers never get the
same entry, in one process or several sharing a PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hangar.core.clock import Clock
from hangar.core.errors import Conflict, InvalidRequest
from hangar.core.events import Event, EventBus, EventKind, QueueChange, Tenant
from hangar.core.principal import Principal
from hangar.core.queues.models import (
    DEFAULT,
    Entry,
    Queue,
    QueueAdminOnly,
    QueueExists,
    QueueNotEmpty,
    QueueNotFound,
    ServedBy,
    TaskAlreadyQueued,
    TaskNotQueued,
    new_id,
)
from hangar.core.queues.repo import queues as repo
from hangar.core.scoped import Database
from hangar.core.tracking.contracts import TaskAccess, TaskRef
from hangar.core.tracking.tasks.models import TaskNotFound
from hangar.db.engine import engine_of

POP_ATTEMPTS = 100
SAMPLES_KEPT = timedelta(days=7)
UPDATABLE = frozenset(
    {"name", "display_name", "tags", "system_tags", "metadata", "served_by", "scaling_group",
     "resource_preset"}
)  # fmt: skip


class Move(StrEnum):
    FORWARD = "forward"
    BACKWARD = "backward"
    TO_FRONT = "to_front"
    TO_BACK = "to_back"


def check_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise QueueAdminOnly()


def check_queue_name(name: str) -> str:
    stripped = name.strip()
    if not stripped or len(stripped) > 255:
        raise InvalidRequest("A queue name must have 1 to 255 characters")
    return stripped


def moved(order: list[int], index: int, how: Move, count: int) -> list[int]:
    """``order`` with the item at ``index`` moved (pure; positions are clamped)."""
    item = order[index]
    rest = order[:index] + order[index + 1 :]
    target = {
        Move.FORWARD: index - count,
        Move.BACKWARD: index + count,
        Move.TO_FRONT: 0,
        Move.TO_BACK: len(rest),
    }[how]
    target = min(max(target, 0), len(rest))
    return rest[:target] + [item] + rest[target:]


class QueueService:
    """Changes queues and their entries."""

    def __init__(
        self, db: Database, clock: Clock, access: TaskAccess, bus: EventBus | None = None
    ) -> None:
        """``bus``: told of every task that joins a queue (workers such as Hangar's
        executor look at once instead of at their next pass)."""
        self._engine: AsyncEngine = engine_of(db)
        self._clock = clock
        self._access = access
        self._bus = bus
        self._defaults: set[str] = set()

    # Administration ----------------------------------------------------------------------

    async def ensure_default(self, domain: str) -> None:
        """Creates the domain's ``default`` queue (system tag ``default``) if it has none."""
        if domain in self._defaults:
            return
        async with self._engine.begin() as db:
            found = await repo.queues(db, domain, names=[DEFAULT], with_entries=False)
        if not found:
            with contextlib.suppress(QueueExists):  # another process made it meanwhile
                await self._insert(domain, None, DEFAULT, system_tags=[DEFAULT])
        self._defaults.add(domain)

    async def _insert(self, domain: str, user: Any, name: str, **fields: Any) -> str:
        now = self._clock.now()
        queue_id = new_id()
        values = {
            "id": queue_id, "domain_name": domain, "user_uuid": user,
            "name": check_queue_name(name), "display_name": fields.get("display_name"),
            "tags": list(fields.get("tags") or []),
            "system_tags": list(fields.get("system_tags") or []),
            "metadata": dict(fields.get("metadata") or {}),
            "served_by": ServedBy(fields.get("served_by") or ServedBy.HANGAR).value,
            "scaling_group": fields.get("scaling_group"),
            "resource_preset": fields.get("resource_preset"), "created": now, "last_update": now,
        }  # fmt: skip
        try:
            async with self._engine.begin() as db:
                await repo.insert_queue(db, values)
        except IntegrityError:
            raise QueueExists(f"A queue named {name!r} exists already") from None
        return queue_id

    async def create(self, principal: Principal, name: str, **fields: Any) -> str:
        """A new queue of the principal's domain (administrators only); returns its id.
        ``fields``: display_name, tags, system_tags, metadata, served_by, scaling_group,
        resource_preset."""
        check_admin(principal)
        await self.ensure_default(principal.domain_name)
        return await self._insert(principal.domain_name, principal.user_uuid, name, **fields)

    async def _get(self, db: AsyncConnection, principal: Principal, queue_id: str) -> Queue:
        found = await repo.queues(db, principal.domain_name, ids=[queue_id], with_entries=False)
        if not found:
            raise QueueNotFound(queue_id)
        return found[0]

    async def update(
        self, principal: Principal, queue_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Changes the queue's fields (administrators only); returns what was written."""
        check_admin(principal)
        values = {k: v for k, v in changes.items() if k in UPDATABLE}
        if "name" in values:
            values["name"] = check_queue_name(values["name"])
        if "served_by" in values:
            values["served_by"] = ServedBy(values["served_by"]).value
        if not values:
            return {}
        values["last_update"] = self._clock.now()
        try:
            async with self._engine.begin() as db:
                await self._get(db, principal, queue_id)
                await repo.update_queue(db, queue_id, values)
        except IntegrityError:
            raise QueueExists(f"A queue named {values.get('name')!r} exists already") from None
        return values

    async def delete(self, principal: Principal, queue_id: str, *, force: bool = False) -> None:
        """Deletes the queue (administrators only); one with entries only with ``force``."""
        check_admin(principal)
        async with self._engine.begin() as db:
            await self._get(db, principal, queue_id)
            if not force and await repo.count(db, queue_id):
                raise QueueNotEmpty()
            await repo.delete_queue(db, queue_id)

    async def edit_metadata(
        self,
        principal: Principal,
        queue_id: str,
        *,
        put: Mapping[str, Mapping[str, Any]] | None = None,
        drop: Collection[str] = (),
        replace: bool = False,
    ) -> int:
        """``queues.add_or_update_metadata`` / ``delete_metadata`` (administrators): items
        by key added or replaced (every other one dropped with ``replace``), ``drop``'s keys
        removed; 1 when the metadata changed, else 0. The queue's row is taken first, so two
        edits never lose each other's items."""
        check_admin(principal)
        async with self._engine.begin() as db:
            await self._locked(db, principal, queue_id)
            queue = await self._get(db, principal, queue_id)
            new = {} if replace else dict(queue.metadata)
            new.update({key: dict(item) for key, item in (put or {}).items()})
            for key in drop:
                new.pop(key, None)
            if new == queue.metadata:
                return 0
            await repo.update_queue(db, queue_id, {"metadata": new})
        return 1

    # Entries -----------------------------------------------------------------------------

    async def _task(self, principal: Principal, task_id: str) -> TaskRef:
        refs = await self._access.writable(principal, [task_id])
        if task_id not in refs:
            raise TaskNotFound(task_id)
        return refs[task_id]

    async def _locked(self, db: AsyncConnection, principal: Principal, queue_id: str) -> None:
        if not await repo.lock_queue(db, queue_id, self._clock.now()):
            raise QueueNotFound(queue_id)
        await self._get(db, principal, queue_id)

    async def put(self, queue_id: str, task_id: str, *, priority: int = 0) -> int:
        """Puts the task into the queue (out of any other); returns its 0-based position.
        No checks: callers check the principal first."""
        now = self._clock.now()
        try:
            async with self._engine.begin() as db:
                if not await repo.lock_queue(db, queue_id, now):
                    raise QueueNotFound(queue_id)
                old = await repo.entry_of(db, task_id)
                await repo.remove_entries(db, task_id)
                position = await repo.add_entry(db, queue_id, task_id, priority=priority, now=now)
                await repo.record_sample(db, queue_id, now)
                if old is not None and old.queue_id != queue_id:
                    await repo.record_sample(db, old.queue_id, now)
        except IntegrityError:  # queued meanwhile by another call, or deleted
            raise TaskAlreadyQueued() from None
        if self._bus is not None:
            tenant = Tenant(uuid.UUID(int=0), None, "")
            change = QueueChange(queue_id, task_id)
            self._bus.publish(
                Event(EventKind.QUEUE_ENTRY_ADDED, uuid.UUID(queue_id), tenant, change, now)
            )
        return position

    async def add_task(
        self, principal: Principal, queue_id: str, task_id: str, *, priority: int = 0
    ) -> int:
        """``queues.add_task``: the task (the principal may change it) joins the queue."""
        await self._task(principal, task_id)
        async with self._engine.connect() as db:
            await self._get(db, principal, queue_id)
        return await self.put(queue_id, task_id, priority=priority)

    async def discard(self, task_ids: Collection[str]) -> int:
        """Takes the tasks out of whatever queue holds them; returns how many were. Queues
        are taken in id order, so two discards never wait on each other in a circle."""
        removed = 0
        now = self._clock.now()
        async with self._engine.connect() as db:
            found = [e for e in [await repo.entry_of(db, t) for t in task_ids] if e is not None]
        if not found:
            return 0
        async with self._engine.begin() as db:
            for queue_id in sorted({e.queue_id for e in found}):
                if await repo.lock_queue(db, queue_id, now):
                    for entry in (e for e in found if e.queue_id == queue_id):
                        removed += await repo.remove_entries(db, entry.task_id, queue_id)
                    await repo.record_sample(db, queue_id, now)
        return removed

    async def clear(self, principal: Principal, queue_id: str) -> list[str]:
        """Empties the queue (administrators only); returns the tasks it held."""
        check_admin(principal)
        now = self._clock.now()
        async with self._engine.begin() as db:
            await self._locked(db, principal, queue_id)
            removed = [task_id for _, task_id, _, _ in await repo.ordered(db, queue_id)]
            for task_id in removed:
                await repo.remove_entries(db, task_id, queue_id)
            await repo.record_sample(db, queue_id, now)
        return removed

    async def remove_task(self, principal: Principal, queue_id: str, task_id: str) -> int:
        """``queues.remove_task``: 1 if the task was in the queue, else TaskNotQueued."""
        await self._task(principal, task_id)
        now = self._clock.now()
        async with self._engine.begin() as db:
            await self._locked(db, principal, queue_id)
            if not await repo.remove_entries(db, task_id, queue_id):
                raise TaskNotQueued()
            await repo.record_sample(db, queue_id, now)
        return 1

    async def move(
        self, principal: Principal, queue_id: str, task_id: str, how: Move, count: int = 1
    ) -> int:
        """Moves the task within the queue; returns its new 0-based position."""
        if count < 1:
            raise InvalidRequest("count must be at least 1")
        await self._task(principal, task_id)
        async with self._engine.begin() as db:
            await self._locked(db, principal, queue_id)
            order = await repo.ordered(db, queue_id)
            ids = [entry_id for entry_id, *_ in order]
            index = next((i for i, e in enumerate(order) if e[1] == task_id), None)
            if index is None:
                raise TaskNotQueued()
            new_order = moved(ids, index, how, count)
            ranks = {entry_id: rank for rank, entry_id in enumerate(new_order)}
            old = {entry_id: rank for entry_id, _, _, rank in order}
            await repo.set_ranks(db, {k: v for k, v in ranks.items() if old[k] != v})
        return new_order.index(ids[index])

    async def pop(self, queue_id: str, *, task_id: str | None = None) -> Entry | None:
        """Takes the queue's first entry (only if it is ``task_id``'s, when given) and
        returns it; None when the queue is empty. Atomic: of concurrent callers, in this
        process or another sharing the database, each entry goes to exactly one."""
        for _ in range(POP_ATTEMPTS):
            now = self._clock.now()
            async with self._engine.begin() as db:
                if not await repo.lock_queue(db, queue_id, now):
                    raise QueueNotFound(queue_id)
                first = await repo.head(db, queue_id)
                if first is None or (task_id is not None and first[1] != task_id):
                    return None
                entry = await repo.take(db, first[0])
                if entry is not None:
                    await repo.record_sample(db, queue_id, now)
                    return entry
        raise Conflict("The queue is too busy; try again")

    async def tasks_deleted(self, tasks: Collection[TaskRef]) -> None:
        """TaskCleanup: deleted or reset tasks leave their queues."""
        await self.discard([t.id for t in tasks])

    async def prune(self) -> None:
        """Drops queue samples older than a week."""
        async with self._engine.begin() as db:
            await repo.prune_samples(db, self._clock.now() - SAMPLES_KEPT)
