"""What this server process knows between the endpoints' API, their reconcile loop, the
gateway and the task dispatcher without asking the database: load hints, demand, workers
reported dead, the loop's wake-up, and subscribers to worker changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from hangar.core.clock import Clock
from hangar.core.endpoints.models import WorkerChange


@dataclass(slots=True)
class Load:
    queued: int = 0
    in_flight: int = 0
    seen_at: datetime | None = None  # the last time either was above zero
    woken_at: datetime | None = None  # the last wake (demand on a scaled-down endpoint)

    @property
    def total(self) -> int:
        return self.queued + self.in_flight


class Signals:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._loads: dict[int, Load] = {}
        self._suspects: set[int] = set()
        self._subscribers: set[asyncio.Queue[WorkerChange]] = set()
        self._wakeup = asyncio.Event()
        self._running: dict[int, asyncio.Event] = {}

    def load(self, endpoint_id: int) -> Load:
        return self._loads.setdefault(endpoint_id, Load())

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

    def wake(self, endpoint_id: int) -> None:
        load = self.load(endpoint_id)
        load.woken_at = load.seen_at = self._clock.now()
        self.poke()

    def suspect(self, worker_id: int) -> None:
        self._suspects.add(worker_id)
        self.poke()

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
        for queue in list(self._subscribers):
            queue.put_nowait(change)
        if change.status.value == "RUNNING":
            self.running_event(change.endpoint_id).set()

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
