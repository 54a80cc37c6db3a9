"""Checks a pending session must pass before the scheduler looks for an agent.

Each predicate is one small class with ``check(session, view) -> reason | None``: None lets
the session go on, a string is why it stays PENDING. Time and dependencies come first, then
static checks (cluster size, image bounds, scaling group), then the ones that depend on what
the pass has assigned so far (concurrency and slot totals per usage key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hangar.core.scheduler.dependencies import check_dependencies
from hangar.core.scheduler.ledger import PassView
from hangar.core.scheduler.model import AgentState, PendingSession
from hangar.core.scheduler.slots import ZERO, format_amount


class Predicate(Protocol):
    def check(self, session: PendingSession, view: PassView) -> str | None:
        """None when ``session`` may be placed, else the reason it stays pending."""
        ...


@dataclass(frozen=True, slots=True)
class NotBefore:
    """A session with ``starts_at`` waits until that time (the pass's ``now``)."""

    def check(self, session: PendingSession, view: PassView) -> str | None:
        when, now = session.not_before, view.now
        if when is None or now is None or when <= now:
            return None
        return f"waiting until {when.isoformat(timespec='seconds')} (starts_at)"


@dataclass(frozen=True, slots=True)
class DependenciesMet:
    """Every dependency has finished successfully (see :mod:`.dependencies`); a failed one
    keeps the session here too, until the lifecycle cancels it."""

    def check(self, session: PendingSession, view: PassView) -> str | None:
        if not session.dependencies:
            return None
        return check_dependencies(session.dependencies).reason


@dataclass(frozen=True, slots=True)
class ClusterSize:
    """Sessions of more than ``max_size`` kernels are not scheduled (multi-node comes later)."""

    max_size: int = 1

    def check(self, session: PendingSession, view: PassView) -> str | None:
        size = session.cluster_size
        if 1 <= size <= self.max_size:
            return None
        return f"cluster size {size} is not supported (allowed: 1 to {self.max_size})"


@dataclass(frozen=True, slots=True)
class ImageSlots:
    """The request lies within the image's minimum and maximum slots, slot by slot."""

    def check(self, session: PendingSession, view: PassView) -> str | None:
        requested = session.requested
        for slot in sorted(session.image_min):
            minimum, amount = session.image_min[slot], requested.amount(slot)
            if amount < minimum:
                return (
                    f"{slot} {format_amount(amount)} is below the image minimum "
                    f"{format_amount(minimum)}"
                )
        for slot in sorted(session.image_max):
            maximum, amount = session.image_max[slot], requested.amount(slot)
            if amount > maximum:
                return (
                    f"{slot} {format_amount(amount)} exceeds the image maximum "
                    f"{format_amount(maximum)}"
                )
        return None


@dataclass(frozen=True, slots=True)
class ScalingGroupMatch:
    """The session's scaling group has a schedulable agent; see :func:`agent_accepts`."""

    def check(self, session: PendingSession, view: PassView) -> str | None:
        if view.has_agents(session.scaling_group):
            return None
        return f"no schedulable agent in scaling group {session.scaling_group!r}"


def agent_accepts(agent: AgentState, session: PendingSession) -> bool:
    """An agent is a candidate for a session: same scaling group, schedulable, and one of
    the session's assigned agents when it has any."""
    if session.agent_ids and agent.id not in session.agent_ids:
        return False
    return agent.schedulable and agent.scaling_group == session.scaling_group


@dataclass(frozen=True, slots=True)
class ConcurrencyLimit:
    """The usage key has a free session slot under its policy's ``max_concurrent_sessions``."""

    def check(self, session: PendingSession, view: PassView) -> str | None:
        ledger = view.ledger(session.usage_key)
        if ledger is None:
            return f"no resource policy known for keypair {session.usage_key}"
        if ledger.at_concurrency_limit:
            return (
                f"concurrency limit reached ({ledger.concurrency_used}/{ledger.concurrency_limit})"
            )
        return None


@dataclass(frozen=True, slots=True)
class ResourceTotals:
    """The usage key's occupied slots plus this request stay within its policy's totals."""

    def check(self, session: PendingSession, view: PassView) -> str | None:
        ledger = view.ledger(session.usage_key)
        if ledger is None:
            return f"no resource policy known for keypair {session.usage_key}"
        slot = ledger.first_exceeded(session.requested)
        if slot is None:
            return None
        used = format_amount(ledger.occupied.get(slot, ZERO))
        asked = format_amount(session.requested[slot])
        limit = format_amount(ledger.limit_for(slot))
        return (
            f"resource policy limit reached for {slot} ({used} used + {asked} requested > {limit})"
        )


DEFAULT_PREDICATES: tuple[Predicate, ...] = (
    NotBefore(),
    DependenciesMet(),
    ClusterSize(),
    ImageSlots(),
    ScalingGroupMatch(),
    ConcurrencyLimit(),
    ResourceTotals(),
)


def first_failure(
    predicates: Sequence[Predicate], session: PendingSession, view: PassView
) -> str | None:
    """The reason of the first predicate that refuses ``session``, or None if all pass."""
    for predicate in predicates:
        reason = predicate.check(session, view)
        if reason is not None:
            return reason
    return None
