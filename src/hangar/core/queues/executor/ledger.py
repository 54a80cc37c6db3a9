"""Which server process runs each queued task: a lease per run in the database.

The process that starts a run holds its lease and renews it while it lives. Another process
sharing the database never adopts a run whose lease is held; when the holder dies, its
leases run out (``Leases.ttl``) and the next process to look takes the runs over and follows
them to their end. A restart on the same data dir takes its predecessor's runs at once: the
data dir lock says that process is gone. docs/design/executor.md tells the story.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Collection
from pathlib import Path

from hangar.core.clock import Clock
from hangar.core.queues.executor.models import RunRecord
from hangar.core.queues.repo import runs as repo
from hangar.core.reconcile import Leases
from hangar.core.scoped import Database
from hangar.db.engine import engine_of


def home_of(data_dir: Path) -> str:
    """This host and data dir: where the runs' directories of a server process live."""
    return f"{socket.gethostname()}:{data_dir.resolve()}"[:1024]


class RunLedger:
    def __init__(self, db: Database, clock: Clock, leases: Leases, home: str) -> None:
        self._engine, self._clock, self._leases, self.home = engine_of(db), clock, leases, home

    @property
    def owner(self) -> str:
        return self._leases.owner

    async def open(self, record: RunRecord) -> None:
        """The run is this process's (a new one: the task was just taken from a queue)."""
        async with self._engine.begin() as db:
            await repo.open_run(db, record, self.owner, self._clock.now() + self._leases.ttl)

    async def set_session(self, task_id: str, session_id: uuid.UUID) -> None:
        async with self._engine.begin() as db:
            await repo.set_session(db, task_id, session_id, self.owner)

    async def renew(self, task_ids: Collection[str]) -> set[str]:
        """Keeps this process's runs; returns those it still holds (a run another process
        took over while this one stood still is no longer this one's to act on)."""
        async with self._engine.begin() as db:
            return await repo.renew(db, task_ids, self.owner, self._clock.now() + self._leases.ttl)

    async def close(self, task_id: str) -> None:
        """The run ended: its row goes (only while this process holds it)."""
        async with self._engine.begin() as db:
            await repo.close_run(db, task_id, self.owner)

    async def take_over(self) -> list[RunRecord]:
        """Runs whose holder is gone (lease ran out, or an earlier process on this home)."""
        now = self._clock.now()
        async with self._engine.begin() as db:
            return await repo.take_over(db, self.owner, self.home, now, now + self._leases.ttl)

    async def known(self, task_ids: Collection[str]) -> set[str]:
        async with self._engine.connect() as db:
            return await repo.known(db, task_ids)
