"""The working state of one pass, as predicates and policies read it.

A pass copies each usage key's usage into a :class:`UsageLedger` and charges it as it assigns,
so later decisions in the same pass see earlier ones.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol

from hangar.core.scheduler.model import PolicyUsage
from hangar.core.scheduler.slots import ZERO, ResourceSlots


class UsageLedger:
    """A mutable copy of one usage key's :class:`PolicyUsage`, charged as sessions are
    assigned."""

    __slots__ = ("concurrency_used", "concurrency_limit", "occupied", "_usage", "_limits")

    def __init__(self, usage: PolicyUsage) -> None:
        self.concurrency_used = usage.concurrency_used
        self.concurrency_limit = usage.concurrency_limit
        self.occupied: dict[str, Decimal] = dict(usage.occupied)
        self._usage = usage
        self._limits: dict[str, Decimal] = {}

    @property
    def at_concurrency_limit(self) -> bool:
        limit = self.concurrency_limit
        return limit is not None and self.concurrency_used >= limit

    def limit_for(self, slot: str) -> Decimal:
        """The resource policy's total for ``slot`` (``Infinity`` when unlimited)."""
        limit = self._limits.get(slot)
        if limit is None:
            limit = self._limits[slot] = self._usage.limit_for(slot)
        return limit

    def first_exceeded(self, requested: ResourceSlots) -> str | None:
        """The first slot (by name) whose total would pass the policy's limit, else None."""
        occupied = self.occupied
        for slot in sorted(requested):
            amount = requested[slot]
            if amount and occupied.get(slot, ZERO) + amount > self.limit_for(slot):
                return slot
        return None

    def charge(self, requested: ResourceSlots) -> None:
        """Count one more session holding ``requested``."""
        self.concurrency_used += 1
        occupied = self.occupied
        for slot, amount in requested.items():
            occupied[slot] = occupied.get(slot, ZERO) + amount


class PassView(Protocol):
    """What predicates and policies may read of a pass in progress."""

    @property
    def now(self) -> datetime | None:
        """The time of the pass (for ``starts_at``); None when the caller gave none."""
        ...

    def ledger(self, usage_key: str) -> UsageLedger | None:
        """The working usage of ``usage_key``; None if the pass has no usage for it."""
        ...

    def has_agents(self, scaling_group: str) -> bool:
        """Whether ``scaling_group`` has at least one schedulable agent."""
        ...

    def total_capacity(self) -> ResourceSlots:
        """Capacity of all schedulable agents of the pass, GPU slots included."""
        ...
