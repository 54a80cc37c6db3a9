"""In which order a pass considers pending sessions.

Every policy serves higher ``priority`` first. Within a priority:

* :class:`Fifo` — oldest first (``created_at``, then session id).
* :class:`Lifo` — newest first (``created_at`` descending, then session id descending).
* :class:`Drf` — dominant resource fairness across access keys: next comes the oldest session
  of the key whose dominant share (the largest ``occupied / total capacity`` over slots) is
  lowest; ties go to the key whose oldest session is older. Shares are re-read after every
  decision, so sessions assigned earlier in the pass count.

A session that cannot be placed is skipped and the next one is tried (backfilling).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from hangar.core.errors import NotFound
from hangar.core.scheduler.ledger import PassView
from hangar.core.scheduler.model import PendingSession
from hangar.core.scheduler.slots import ZERO, ResourceSlots


class Policy(Protocol):
    name: str

    def order(self, pending: Sequence[PendingSession], view: PassView) -> Iterator[PendingSession]:
        """Yield every session of ``pending`` exactly once.

        The scheduler decides each yielded session, updating ``view``, before it asks for the
        next one, so an order may depend on the decisions made so far.
        """
        ...


def _fifo_key(session: PendingSession) -> tuple[int, datetime, UUID]:
    return (-session.priority, session.created_at, session.id)


class Fifo:
    name = "fifo"

    def order(self, pending: Sequence[PendingSession], view: PassView) -> Iterator[PendingSession]:
        return iter(sorted(pending, key=_fifo_key))


class Lifo:
    name = "lifo"

    def order(self, pending: Sequence[PendingSession], view: PassView) -> Iterator[PendingSession]:
        return iter(sorted(pending, key=lambda s: (s.priority, s.created_at, s.id), reverse=True))


class Drf:
    name = "drf"

    def order(self, pending: Sequence[PendingSession], view: PassView) -> Iterator[PendingSession]:
        total = view.total_capacity()
        ordered = sorted(pending, key=_fifo_key)
        for _, band in itertools.groupby(ordered, key=lambda s: s.priority):
            yield from _fair_band(list(band), view, total)


def _fair_band(
    sessions: list[PendingSession], view: PassView, total: ResourceSlots
) -> Iterator[PendingSession]:
    """One priority band (already oldest first), interleaved across keys by dominant share."""
    queues: dict[str, deque[PendingSession]] = {}
    for session in sessions:
        queues.setdefault(session.usage_key, deque()).append(session)
    heap = [_entry(key, queue[0], view, total) for key, queue in queues.items()]
    heapq.heapify(heap)
    while heap:
        key = heapq.heappop(heap)[3]
        queue = queues[key]
        yield queue.popleft()
        if queue:
            heapq.heappush(heap, _entry(key, queue[0], view, total))


def _entry(
    key: str, head: PendingSession, view: PassView, total: ResourceSlots
) -> tuple[Decimal, datetime, UUID, str]:
    return (dominant_share(key, view, total), head.created_at, head.id, key)


def dominant_share(usage_key: str, view: PassView, total: ResourceSlots) -> Decimal:
    """The largest ``occupied / total`` over slots with capacity; 0 for an unknown key."""
    ledger = view.ledger(usage_key)
    if ledger is None:
        return ZERO
    share = ZERO
    for slot, amount in ledger.occupied.items():
        capacity = total.amount(slot)
        if capacity > 0 and amount > 0:
            share = max(share, amount / capacity)
    return share


POLICIES: dict[str, Policy] = {p.name: p for p in (Fifo(), Lifo(), Drf())}


def get_policy(name: str) -> Policy:
    """The policy called ``name`` (``fifo``, ``lifo``, ``drf``; case-insensitive).

    Raises NotFound for any other name.
    """
    policy = POLICIES.get(name.lower())
    if policy is None:
        raise NotFound("scheduling policy", f"No such scheduling policy: {name!r}.")
    return policy
