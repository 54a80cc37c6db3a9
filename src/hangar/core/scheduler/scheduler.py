"""One scheduling pass: pending sessions in, assignments and reasons out. Pure: no I/O.

The pass works on its own copy of agent capacity and policy usage and charges both at each
assignment, so later decisions see earlier ones and nothing is over-committed. The service
applies the plan in one transaction, re-checking capacity, and runs another pass while passes
make progress.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from hangar.core.scheduler.ledger import UsageLedger
from hangar.core.scheduler.model import (
    AgentState,
    Assignment,
    PendingSession,
    PolicyUsage,
    SchedulePlan,
    StillPending,
)
from hangar.core.scheduler.placement import AgentPool
from hangar.core.scheduler.policies import Policy
from hangar.core.scheduler.predicates import DEFAULT_PREDICATES, Predicate, first_failure
from hangar.core.scheduler.slots import ResourceSlots


class PassState:
    """The working state of one pass; implements :class:`~.ledger.PassView`."""

    def __init__(
        self,
        agents: Iterable[AgentState],
        usage: Mapping[str, PolicyUsage],
        now: datetime | None = None,
    ) -> None:
        """Raises ValueError if two agents share an id."""
        self.pool = AgentPool(agents)
        self._ledgers = {key: UsageLedger(u) for key, u in usage.items()}
        self._now = now

    @property
    def now(self) -> datetime | None:
        return self._now

    def ledger(self, usage_key: str) -> UsageLedger | None:
        return self._ledgers.get(usage_key)

    def has_agents(self, scaling_group: str) -> bool:
        return self.pool.has_agents(scaling_group)

    def total_capacity(self) -> ResourceSlots:
        return self.pool.total_capacity()


def schedule(
    pending: Sequence[PendingSession],
    agents: Iterable[AgentState],
    usage: Mapping[str, PolicyUsage],
    policy: Policy,
    *,
    predicates: Sequence[Predicate] = DEFAULT_PREDICATES,
    now: datetime | None = None,
) -> SchedulePlan:
    """Decide, in ``policy`` order, which pending sessions run where.

    Each session either gets an :class:`Assignment` (its slots and GPU devices reserved on
    one agent at once) or stays pending with the first reason found: a predicate's, or the
    placement's when no agent has room. ``usage`` is keyed by access key; with the default
    predicates a session whose key has no entry stays pending. The result depends only on
    the arguments, not on their order. ``now`` is the time ``starts_at`` is compared with
    (None: sessions are never held back for it).

    Raises ValueError for duplicate session or agent ids, or a policy that does not yield
    every session exactly once.
    """
    if len({s.id for s in pending}) != len(pending):
        raise ValueError("duplicate pending session ids")
    state = PassState(agents, usage, now)
    assignments: list[Assignment] = []
    waiting: list[StillPending] = []
    for session in policy.order(pending, state):
        outcome = _decide(session, state, predicates)
        if isinstance(outcome, str):
            waiting.append(StillPending(session.id, outcome))
        else:
            assignments.append(outcome)
    decided = {a.session_id for a in assignments} | {w.session_id for w in waiting}
    if len(assignments) + len(waiting) != len(pending) or len(decided) != len(pending):
        raise ValueError(f"policy {policy.name!r} did not yield every session exactly once")
    return SchedulePlan(tuple(assignments), tuple(waiting))


def _decide(
    session: PendingSession, state: PassState, predicates: Sequence[Predicate]
) -> Assignment | str:
    """Assign ``session`` (charging its usage key) or say why it waits."""
    reason = first_failure(predicates, session, state)
    if reason is not None:
        return reason
    outcome = state.pool.place(session)
    if isinstance(outcome, Assignment):
        ledger = state.ledger(session.usage_key)
        if ledger is not None:
            ledger.charge(outcome.allocated)
    return outcome
