"""Reconcile loops with leases: how a server process claims the rows it acts on.

A loop that drives rows toward what they should be (finish a termination, keep N workers
alive, hand a queued task to a worker) has one shape, whatever the domain:

1. **claim** - a conditional UPDATE takes a lease on the rows it wants that nobody holds or
   whose lease ran out: ``SET lease_owner = me, lease_expires = now + ttl WHERE <wanted> AND
   (lease_owner IS NULL OR lease_expires < now)``. The rows it changed are this process's to
   act on; every other process's UPDATE skips them.
2. **load** them as domain values;
3. **decide** with a pure function of what was loaded (no I/O: tested alone);
4. **apply** with guarded (compare-and-set) writes, so a decision taken on stale data is
   refused by the database rather than carried out twice;
5. **release** the lease (the apply's last write usually clears it).

A process that dies holding a lease holds it only until ``lease_expires``; then any other
process claims the row. docs/design/reconciler.md tells the whole story.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, or_, update

from hangar.db.engine import DbSession

log = logging.getLogger("hangar.core.reconcile")
T = TypeVar("T")
D = TypeVar("D")


def process_identity() -> str:
    """A name for this server process that no other process shares (host, pid, nonce)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Wakeups(Protocol):
    """Wake-ups between server processes sharing a database (PostgreSQL: LISTEN/NOTIFY in
    ``hangar.db.notify``): a process that leaves work for another wakes its loops at once
    rather than at their next periodic pass. A wake-up carries no data."""

    async def listen(self, on_wake: Callable[[], None]) -> None: ...

    def wake_others(self) -> None: ...

    async def close(self) -> None: ...


class NoWakeups:
    """One server process (SQLite): nobody else to wake."""

    async def listen(self, on_wake: Callable[[], None]) -> None:
        return None

    def wake_others(self) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Leases:
    """Leases taken by one process (``owner``) on rows of tables that have ``id``,
    ``lease_owner`` and ``lease_expires`` columns."""

    owner: str
    ttl: timedelta = timedelta(seconds=60)

    def held(self, now: datetime) -> dict[str, Any]:
        """Column values that give this process the lease (for a write that also claims)."""
        return {"lease_owner": self.owner, "lease_expires": now + self.ttl}

    @staticmethod
    def released() -> dict[str, Any]:
        return {"lease_owner": None, "lease_expires": None}

    @staticmethod
    def free(table: Any, now: datetime) -> ColumnElement[bool]:
        """Rows nobody holds, or whose holder's lease ran out."""
        expired: ColumnElement[bool] = or_(table.lease_owner.is_(None), table.lease_expires < now)
        return expired

    async def claim(
        self, db: DbSession, table: Any, *wanted: ColumnElement[bool], now: datetime
    ) -> list[uuid.UUID]:
        """Take the lease on the rows matching ``wanted`` that are free; returns their ids
        (the caller commits)."""
        stmt = (
            update(table)
            .where(*wanted, self.free(table, now))
            .values(**self.held(now))
            .returning(table.id)
            .execution_options(synchronize_session=False)
        )
        return list((await db.execute(stmt)).scalars())

    async def release(self, db: DbSession, table: Any, ids: Sequence[uuid.UUID]) -> None:
        """Give back the leases this process holds on ``ids`` (others' are left alone)."""
        if ids:
            stmt = (
                update(table)
                .where(table.id.in_(ids), table.lease_owner == self.owner)
                .values(**self.released())
                .execution_options(synchronize_session=False)
            )
            await db.execute(stmt)


@dataclass(frozen=True, slots=True)
class Reconciler(Generic[T, D]):
    """One reconcile pass: ``claim`` (claims and loads), ``decide`` (pure), ``apply``
    (guarded writes), ``release`` (for the rows whose apply failed or left the lease)."""

    name: str
    claim: Callable[[], Awaitable[Sequence[T]]]
    decide: Callable[[T], D]
    apply: Callable[[T, D], Awaitable[None]]
    release: Callable[[Sequence[T]], Awaitable[None]]

    async def run_once(self) -> int:
        """Claim, decide and apply; returns how many rows were acted on. A failure of one
        row's apply is logged; the lease is released for another pass (or process)."""
        claimed = await self.claim()
        failed: list[T] = []
        for item in claimed:
            try:
                await self.apply(item, self.decide(item))
            except Exception:
                log.exception("%s: could not apply to %r", self.name, item)
                failed.append(item)
        await self.release(claimed)
        return len(claimed) - len(failed)
