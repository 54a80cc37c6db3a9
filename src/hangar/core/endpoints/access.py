"""What the gateway and the task dispatcher ask of endpoints: look one up, the workers
that answer, a connection to one, load hints and demand, and worker changes
(/work/notes/endpoints-api.txt lists the contract)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.agents.client import AppStream
from hangar.core.agents.service import AgentService
from hangar.core.clock import Clock
from hangar.core.endpoints import repo
from hangar.core.endpoints.models import Endpoint, WorkerChange, WorkerStatus, WorkerTarget
from hangar.core.endpoints.repo import EndpointRecord
from hangar.core.endpoints.signals import Signals
from hangar.core.errors import AgentError, Unavailable
from hangar.db.engine import DbSession


class WorkerAccess:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        signals: Signals,
        agents: AgentService,
    ) -> None:
        self._sessions, self._clock, self._signals = sessions, clock, signals
        self._agents = agents

    async def _view(self, record: EndpointRecord) -> Endpoint:
        raise NotImplementedError

    async def find(self, endpoint_id: int) -> Endpoint | None:
        """Any live (not deleted) endpoint, whoever owns it (for loops)."""
        async with self._sessions() as db:
            record = await repo.find(db, endpoint_id)
        return None if record is None else await self._view(record)

    async def by_domain(self, label: str) -> Endpoint | None:
        """The live endpoint whose domain label is ``label`` (the caller checks the owner)."""
        if not label or len(label) > 32:
            return None
        async with self._sessions() as db:
            record = await repo.by_domain(db, label.lower())
        return None if record is None else await self._view(record)

    async def running_workers(self, endpoint_id: int) -> list[WorkerTarget]:
        """The endpoint's RUNNING workers (their port answered), oldest first."""
        async with self._sessions() as db:
            records = await repo.live_workers(db, [endpoint_id])
            record = await repo.find(db, endpoint_id)
        if record is None:
            return []
        port = record.spec.port or 0
        return [
            WorkerTarget(r.worker.id, endpoint_id, r.worker.session_id, r.agent_id, port)
            for r in records
            if r.worker.status is WorkerStatus.RUNNING and r.worker.session_id and r.agent_id
        ]

    async def connect(self, target: WorkerTarget, port: int | None = None) -> AppStream:
        """A new connection to the worker's exposed port (or ``port``: a task's
        ``workerPort``), made inside its network by its agent. Raises Unavailable (the
        worker or its agent is gone, nothing listens)."""
        number = port or target.port
        if not 0 < number < 65536:
            raise Unavailable(f"Worker {target.worker_id} exposes no port; name one.")
        try:
            client = self._agents.client(target.agent_id)
            return await client.open_app(target.session_id, str(number))
        except AgentError as exc:
            self._signals.suspect(target.worker_id, target.endpoint_id)
            raise Unavailable(f"Worker {target.worker_id} does not answer: {exc.message}") from exc

    async def wait_running(self, endpoint_id: int, seconds: float) -> list[WorkerTarget]:
        """RUNNING workers, waking a scaled-down endpoint and waiting up to ``seconds``
        seconds for one; [] when none came."""
        found = await self.running_workers(endpoint_id)
        if found:
            return found
        self.wake(endpoint_id)
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            event = self._signals.running_event(endpoint_id)
            event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(left, 1.0))
            if found := await self.running_workers(endpoint_id):
                return found
        return []

    def note_load(
        self, endpoint_id: int, *, queued: int | None = None, in_flight: int | None = None
    ) -> None:
        """Load seen now (tasks waiting, requests open): the autoscaler's input."""
        self._signals.note_load(endpoint_id, queued, in_flight)

    def wake(self, endpoint_id: int) -> None:
        """Demand arrived: resets the idle clock; brings back a scaled-to-zero endpoint."""
        self._signals.wake(endpoint_id)

    def worker_failed(self, endpoint_id: int, worker_id: int, reason: str) -> None:
        """A caller saw the worker refuse: check its health at once (in the process whose
        loop holds the endpoint)."""
        self._signals.suspect(worker_id, endpoint_id)

    @contextlib.asynccontextmanager
    async def worker_changes(self) -> AsyncIterator[asyncio.Queue[WorkerChange]]:
        """Worker changes from now on, while the block runs: this process's and, with a
        relay, the other processes'."""
        async with self._signals.subscribe() as queue:
            yield queue
