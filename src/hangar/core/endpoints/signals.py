"""What this server process knows between the endpoints' API, their reconcile loop, the
gateway and the task dispatcher without asking the database: load hints, demand, workers
reported dead, the loop's wake-up, and subscribers to worker changes. With a relay
(several processes on PostgreSQL: :mod:`hangar.core.endpoints.hints`) the other
processes' worker changes, load, demand and owners' changes arrive here too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from hangar.core.clock import Clock
from hangar.core.endpoints.hints import LOAD_TTL, HintRelay
from hangar.core.endpoints.models import WorkerChange, WorkerStatus
from hangar.core.events import EndpointHint, EventKind


@dataclass(slots=True)
class Load:
    queued: int = 0
    in_flight: int = 0
    seen_at: datetime | None = None  # the last time either was above zero
    woken_at: datetime | None = None  # the last wake (demand on a scaled-down endpoint)
    elsewhere: dict[str, tuple[int, int, datetime]] = field(default_factory=dict)
    """Other processes' (queued, in flight, when told), by process."""

    @property
    def total(self) -> int:
        """Tasks waiting (the database's count: any process sees all of them) and the
        requests open in every process."""
        queued = max([self.queued, *(q for q, _, _ in self.elsewhere.values())])
        return queued + self.in_flight + sum(f for _, f, _ in self.elsewhere.values())


class Signals:
    def __init__(self, clock: Clock, relay: HintRelay | None = None) -> None:
        self._clock, self._relay = clock, relay
        self._loads: dict[int, Load] = {}
        self._suspects: set[int] = set()
        self._subscribers: set[asyncio.Queue[WorkerChange]] = set()
        self._wakeup = asyncio.Event()
        self._running: dict[int, asyncio.Event] = {}

    def load(self, endpoint_id: int) -> Load:
        load = self._loads.setdefault(endpoint_id, Load())
        if load.elsewhere:  # a process that stopped telling is gone or idle
            since = self._clock.now() - LOAD_TTL
            load.elsewhere = {k: v for k, v in load.elsewhere.items() if v[2] >= since}
        return load

    def note_load(self, endpoint_id: int, queued: int | None, in_flight: int | None) -> None:
        load, before = self.load(endpoint_id), self.load(endpoint_id).total
        if queued is not None:
            load.queued = max(0, queued)
        if in_flight is not None:
            load.in_flight = max(0, in_flight)
        if load.total:
            load.seen_at = self._clock.now()
        if load.total > before:
            self.poke()
        if self._relay is not None:
            self._relay.load(endpoint_id, load.queued, load.in_flight)

    def wake(self, endpoint_id: int) -> None:
        load = self.load(endpoint_id)
        load.woken_at = load.seen_at = self._clock.now()
        self.poke()
        if self._relay is not None:
            self._relay.wake(endpoint_id)

    def suspect(self, worker_id: int, endpoint_id: int | None = None) -> None:
        """Check the worker now (``endpoint_id``: also in the process that runs its loop)."""
        self._suspects.add(worker_id)
        self.poke()
        if self._relay is not None and endpoint_id is not None:
            self._relay.suspect(endpoint_id, worker_id)

    def changed(self, endpoint_id: int) -> None:
        """Its owner changed the endpoint: the loop that holds it passes now."""
        self.poke()
        if self._relay is not None:
            self._relay.changed(endpoint_id)

    def take_suspects(self) -> set[int]:
        found, self._suspects = self._suspects, set()
        return found

    def poke(self) -> None:
        """Wake the reconcile loop now."""
        self._wakeup.set()

    async def wait(self, seconds: float) -> None:
        """Until poked or ``seconds`` passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        self._wakeup.clear()

    def running_event(self, endpoint_id: int) -> asyncio.Event:
        return self._running.setdefault(endpoint_id, asyncio.Event())

    def publish(self, change: WorkerChange) -> None:
        self._deliver(change)
        if self._relay is not None:
            self._relay.worker(change)

    def _deliver(self, change: WorkerChange) -> None:
        for queue in list(self._subscribers):
            queue.put_nowait(change)
        if change.status.value == "RUNNING":
            self.running_event(change.endpoint_id).set()

    async def follow(self) -> None:
        """Until cancelled: the other processes' hints (returns at once without a relay)."""
        if self._relay is not None:
            await self._relay.follow(self._received)

    def _received(self, kind: EventKind, hint: EndpointHint) -> None:
        eid = hint.endpoint_id
        if kind is EventKind.ENDPOINT_WORKER and hint.worker_id and hint.status:
            status = WorkerStatus(hint.status)
            self._deliver(WorkerChange(eid, hint.worker_id, status, hint.reason))
        elif kind is EventKind.ENDPOINT_LOAD:
            load, now = self.load(eid), self._clock.now()
            before = load.total
            load.elsewhere[hint.origin] = (hint.queued or 0, hint.in_flight or 0, now)
            if load.total:
                load.seen_at = now
            if load.total > before:
                self.poke()
        elif kind is EventKind.ENDPOINT_WOKEN:
            load = self.load(eid)
            load.woken_at = load.seen_at = self._clock.now()
            self.poke()
        elif kind is EventKind.ENDPOINT_SUSPECT and hint.worker_id:
            self._suspects.add(hint.worker_id)
            self.poke()
        elif kind is EventKind.ENDPOINT_CHANGED:
            self.poke()

    def forget(self, endpoint_id: int) -> None:
        self._loads.pop(endpoint_id, None)
        self._running.pop(endpoint_id, None)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[WorkerChange]]:
        queue: asyncio.Queue[WorkerChange] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
