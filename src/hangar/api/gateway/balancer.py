"""Which worker takes a request: the endpoint's RUNNING workers (read at most once a
second, and again at once when a worker changes in this process), the one with the fewest
requests open through this gateway; ties go round in turn. A worker that refused a
connection leaves the list until the endpoints' loop says it runs again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hangar.core.endpoints.models import WorkerTarget
from hangar.core.endpoints.service import EndpointService

WORKERS_SECONDS = 1.0


@dataclass(slots=True)
class _Pool:
    workers: list[WorkerTarget]
    read_at: float
    turn: int = 0
    open: dict[int, int] = field(default_factory=dict)  # worker id -> requests open


class Balancer:
    def __init__(self, endpoints: EndpointService, ttl: float = WORKERS_SECONDS) -> None:
        self._endpoints, self._ttl = endpoints, ttl
        self._pools: dict[int, _Pool] = {}
        self._watcher: asyncio.Task[None] | None = None

    def _watch(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.ensure_future(self._follow_changes())

    async def _follow_changes(self) -> None:
        async with self._endpoints.worker_changes() as changes:
            while True:
                change = await changes.get()
                pool = self._pools.get(change.endpoint_id)
                if pool is not None:
                    pool.read_at = -self._ttl  # read again before the next pick

    async def workers(self, endpoint_id: int) -> list[WorkerTarget]:
        """The endpoint's RUNNING workers (cached for up to a second)."""
        self._watch()
        pool = self._pools.get(endpoint_id)
        now = time.monotonic()
        if pool is None or now - pool.read_at >= self._ttl:
            found = await self._endpoints.running_workers(endpoint_id)
            pool = self._refresh(endpoint_id, found, now)
        return pool.workers

    def _refresh(self, endpoint_id: int, found: list[WorkerTarget], now: float) -> _Pool:
        pool = self._pools.get(endpoint_id)
        if pool is None:
            pool = self._pools[endpoint_id] = _Pool(found, now)
        pool.workers, pool.read_at = found, now
        return pool

    def adopt(self, endpoint_id: int, found: list[WorkerTarget]) -> None:
        """Workers just read elsewhere (after waiting for one)."""
        self._refresh(endpoint_id, found, time.monotonic())

    def pick(self, endpoint_id: int, exclude: Iterable[int] = ()) -> WorkerTarget | None:
        """The worker with the fewest open requests (not in ``exclude``); None when none."""
        pool = self._pools.get(endpoint_id)
        if pool is None or not pool.workers:
            return None
        skip = set(exclude)
        candidates = [w for w in pool.workers if w.worker_id not in skip]
        if not candidates:
            return None
        count = len(candidates)
        start = pool.turn % count
        pool.turn += 1
        best: WorkerTarget | None = None
        fewest = 0
        for offset in range(count):
            worker = candidates[(start + offset) % count]
            load = pool.open.get(worker.worker_id, 0)
            if best is None or load < fewest:
                best, fewest = worker, load
                if load == 0:
                    break
        return best

    @contextlib.contextmanager
    def holding(self, worker: WorkerTarget) -> Iterator[None]:
        """Count one open request on ``worker`` while the block runs."""
        pool = self._pools.setdefault(worker.endpoint_id, _Pool([], -self._ttl))
        pool.open[worker.worker_id] = pool.open.get(worker.worker_id, 0) + 1
        try:
            yield
        finally:
            left = pool.open.get(worker.worker_id, 1) - 1
            if left > 0:
                pool.open[worker.worker_id] = left
            else:
                pool.open.pop(worker.worker_id, None)

    def drop(self, worker: WorkerTarget) -> None:
        """``worker`` refused: take it out until the list is read again."""
        pool = self._pools.get(worker.endpoint_id)
        if pool is not None:
            pool.workers = [w for w in pool.workers if w.worker_id != worker.worker_id]
