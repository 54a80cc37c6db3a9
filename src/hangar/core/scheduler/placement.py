"""Agent choice: best-fit bin-packing over a pass's working copy of agent capacity.

**How an agent is chosen.** Among the schedulable agents of the session's scaling group
where the request fits, the scheduler picks the one with the *least free capacity left*
(best fit): capacity is scored as ``sum(free[slot] / largest capacity of slot in the group)``
over the group's slots, with GPU shares as one slot; ties go to the lowest agent id.
Packing the fullest agent first keeps large agents whole for large requests.

**GPU awareness.** A session without GPU slots tries agents without GPU devices first and only
then GPU agents, so GPUs do not sit idle behind CPU work. ``cuda.device: n`` takes ``n``
devices with nothing allocated (lowest ids first). ``cuda.shares: s`` goes to the single device
with the least free shares that still holds ``s`` (so partially used devices fill up and whole
devices stay free); a request larger than any device takes the freest device whole and repeats.

**Speed.** Agents of a group sit in lists ordered by score. A fitting agent's score is at least
the request's score, so a scan starts at that point (bisect) and stops at the first fit, which
is the best fit. Free capacity only shrinks during a pass, so a request shape that fitted
nowhere is remembered, and any shape at least as large as a remembered one is refused at once.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import islice

from hangar.core.scheduler.model import AgentState, Assignment, DeviceAllocation, PendingSession
from hangar.core.scheduler.slots import (
    CUDA_DEVICE,
    CUDA_SHARES,
    GPU_SLOTS,
    ZERO,
    ResourceSlots,
)

_FRONTIER = 64  # failed shapes kept to refuse larger ones; exact repeats are found by hash


class _Device:
    __slots__ = ("id", "capacity", "free", "model")

    def __init__(self, id: str, capacity: Decimal, free: Decimal, model: str = "") -> None:
        self.id, self.capacity, self.free, self.model = id, capacity, free, model


class _Agent:
    """Working copy of one agent: free non-GPU slots and per-device free shares."""

    __slots__ = ("id", "rank", "free", "devices", "whole_free", "shares_free", "score")

    def __init__(self, state: AgentState, rank: int, slot_order: Sequence[str]) -> None:
        capacity, occupied = state.available_slots, state.occupied_slots
        self.id = state.id
        self.rank = rank
        self.free = {s: max(capacity.amount(s) - occupied.amount(s), ZERO) for s in slot_order}
        devices = sorted(state.devices, key=lambda d: d.id)
        self.devices = [_Device(d.id, d.capacity, d.free, d.model) for d in devices]
        self.whole_free = 0
        self.shares_free = ZERO
        self.score = 0.0
        self.recount_devices()

    def recount_devices(self) -> None:
        self.whole_free = sum(1 for d in self.devices if d.free == d.capacity)
        self.shares_free = sum((d.free for d in self.devices), ZERO)


class _Demand:
    """A request split for placement: non-GPU slots, whole devices, fractional shares."""

    __slots__ = (
        "requested", "base", "need", "devices", "shares", "gpu", "score", "unknown", "model"
    )  # fmt: skip

    def __init__(self, requested: ResourceSlots, group: _Group, model: str = "") -> None:
        self.model = model  # devices of this model only (empty: any)
        self.requested = requested.nonzero()
        self.base = tuple(sorted((s, a) for s, a in self.requested.items() if s not in GPU_SLOTS))
        self.need = dict(self.base)
        self.devices = int(requested.amount(CUDA_DEVICE))
        self.shares = requested.amount(CUDA_SHARES)
        self.gpu = bool(self.devices or self.shares)
        self.unknown = any(s not in group.inv_refs for s in self.need)
        self.score = group.score(self.need, self.shares)

    def covers(self, other: _Demand) -> bool:
        """True when this demand is at least ``other`` on every slot (and wants the same
        device model)."""
        if self.model != other.model:
            return False
        if self.devices < other.devices or self.shares < other.shares:
            return False
        need = self.need
        return all(need.get(slot, ZERO) >= amount for slot, amount in other.base)


class _Group:
    """The schedulable agents of one scaling group, in two lanes ordered by score."""

    def __init__(self, states: list[AgentState]) -> None:
        states.sort(key=lambda a: a.id)
        slot_order = sorted({s for a in states for s in a.available_slots})
        self.inv_refs = {
            s: _inverse(max(a.available_slots.amount(s) for a in states)) for s in slot_order
        }
        self.inv_gpu = _inverse(max(sum((d.capacity for d in a.devices), ZERO) for a in states))
        self.agents = [_Agent(state, rank, slot_order) for rank, state in enumerate(states)]
        self.cpu_lane: list[tuple[float, int]] = []
        self.gpu_lane: list[tuple[float, int]] = []
        for agent in self.agents:
            agent.score = self.score(agent.free, agent.shares_free)
            self.lane_of(agent).append((agent.score, agent.rank))
        self.cpu_lane.sort()
        self.gpu_lane.sort()
        self.demands: dict[tuple[ResourceSlots, str], _Demand] = {}
        self.failed: dict[tuple[ResourceSlots, str], str] = {}  # (slots, model): why
        self.frontier: list[_Demand] = []  # smallest shapes that fitted nowhere, oldest first

    def score(self, amounts: dict[str, Decimal], shares: Decimal) -> float:
        """Normalised size of ``amounts`` plus ``shares``; monotone in every amount."""
        total = 0.0
        for slot, inverse in self.inv_refs.items():
            total += float(amounts.get(slot, ZERO)) * inverse
        return total + float(shares) * self.inv_gpu

    def lane_of(self, agent: _Agent) -> list[tuple[float, int]]:
        return self.gpu_lane if agent.devices else self.cpu_lane

    def demand(self, requested: ResourceSlots, model: str = "") -> _Demand:
        demand = self.demands.get((requested, model))
        if demand is None:
            demand = self.demands[(requested, model)] = _Demand(requested, self, model)
        return demand

    def find(self, demand: _Demand) -> _Agent | None:
        """The best-fitting agent for ``demand``, or None when it fits nowhere."""
        base, gpu, agents = demand.base, demand.gpu, self.agents
        for lane in (self.gpu_lane,) if gpu else (self.cpu_lane, self.gpu_lane):
            # The inner loop is the hot path of a pass: keep it free of calls.
            for _, rank in islice(lane, bisect_left(lane, (demand.score,)), None):
                agent = agents[rank]
                free = agent.free
                for slot, amount in base:
                    if free[slot] < amount:
                        break
                else:
                    if not gpu or _gpu_fits(agent, demand):
                        return agent
        return None

    def find_among(self, demand: _Demand, agent_ids: frozenset[str]) -> _Agent | None:
        """The best-fitting agent for ``demand`` among ``agent_ids`` (a pinned session):
        the same order as :meth:`find`, over the few agents named."""
        candidates = [a for a in self.agents if a.id in agent_ids]
        lanes = (self.gpu_lane,) if demand.gpu else (self.cpu_lane, self.gpu_lane)
        for lane in lanes:
            members = [a for a in candidates if self.lane_of(a) is lane]
            for agent in sorted(members, key=lambda a: (a.score, a.rank)):
                if agent.score < demand.score:
                    continue
                if all(agent.free[slot] >= amount for slot, amount in demand.base) and (
                    not demand.gpu or _gpu_fits(agent, demand)
                ):
                    return agent
        return None

    def known_failure(self, demand: _Demand) -> str | None:
        """Why ``demand`` cannot fit, if a failure earlier in the pass already shows it.

        A shape at least as large as one that fitted nowhere fits nowhere either (free
        capacity only shrinks), and the smaller shape's reason still holds for it.
        """
        reason = self.failed.get(_key(demand))
        if reason is None:
            for smaller in self.frontier:
                if demand.covers(smaller):
                    reason = self.failed[_key(demand)] = self.failed[_key(smaller)]
                    break
        return reason

    def remember_failure(self, demand: _Demand) -> str:
        """Record that ``demand`` fits nowhere and return why (see :func:`_shortage`)."""
        reason = self.failed[_key(demand)] = _shortage(self.agents, demand)
        # Keep only the smallest failed shapes: a larger one adds nothing.
        self.frontier = [f for f in self.frontier if not f.covers(demand)][-_FRONTIER + 1 :]
        self.frontier.append(demand)
        return reason

    def reserve(self, agent: _Agent, demand: _Demand) -> tuple[DeviceAllocation, ...]:
        """Take ``demand`` from ``agent`` (all of it), keeping the lane ordered."""
        lane = self.lane_of(agent)
        del lane[bisect_left(lane, (agent.score, agent.rank))]
        for slot, amount in demand.base:
            agent.free[slot] -= amount
        grants: tuple[DeviceAllocation, ...] = ()
        if demand.gpu:
            plan = _plan_devices(agent, demand)
            assert plan is not None, "reserve() is only called for an agent that fits"
            grants = _apply_devices(agent, plan)
        agent.score = self.score(agent.free, agent.shares_free)
        insort(lane, (agent.score, agent.rank))
        return grants


def _key(demand: _Demand) -> tuple[ResourceSlots, str]:
    return demand.requested, demand.model


def _usable(agent: _Agent, demand: _Demand) -> list[_Device]:
    """The agent's devices the demand may take (all, or those of its model)."""
    if not demand.model:
        return agent.devices
    return [d for d in agent.devices if d.model == demand.model]


def _whole_free(agent: _Agent, demand: _Demand) -> int:
    return sum(1 for d in _usable(agent, demand) if d.free == d.capacity)


def _inverse(reference: Decimal) -> float:
    return 1.0 / float(reference) if reference > 0 else 0.0


def _gpu_fits(agent: _Agent, demand: _Demand) -> bool:
    if agent.whole_free < demand.devices or agent.shares_free < demand.shares:
        return False
    if demand.model:
        return _plan_devices(agent, demand) is not None
    return not (demand.devices and demand.shares) or _plan_devices(agent, demand) is not None


_Grant = tuple[_Device, Decimal, bool]


def _plan_devices(agent: _Agent, demand: _Demand) -> list[_Grant] | None:
    """Which devices give ``demand`` its whole devices and shares; None if they cannot."""
    usable = _usable(agent, demand)
    whole = [d for d in usable if d.free == d.capacity][: demand.devices]
    if len(whole) < demand.devices:
        return None
    plan: list[_Grant] = [(d, d.capacity, True) for d in whole]
    taken = {id(d) for d in whole}
    open_devices = [d for d in usable if d.free > 0 and id(d) not in taken]
    remaining = demand.shares
    while remaining > 0:
        holding = [d for d in open_devices if d.free >= remaining]
        if holding:
            best = min(holding, key=lambda d: d.free)  # min() keeps the lowest id on ties
            plan.append((best, remaining, False))
            return plan
        if not open_devices:
            return None
        freest = max(open_devices, key=lambda d: d.free)  # max() keeps the first on ties
        plan.append((freest, freest.free, False))
        open_devices.remove(freest)
        remaining -= freest.free
    return plan


def _apply_devices(agent: _Agent, plan: list[_Grant]) -> tuple[DeviceAllocation, ...]:
    grants = []
    for device, shares, whole in plan:
        device.free -= shares
        grants.append(DeviceAllocation(device.id, shares, whole))
    agent.recount_devices()
    return tuple(grants)


def _shortage(agents: Iterable[_Agent], demand: _Demand, where: str = "any agent") -> str:
    """Say which requested slots no agent of the group has enough of, or that none has all."""
    agents = list(agents)
    lacking = [
        slot
        for slot, amount in demand.base
        if all(agent.free.get(slot, ZERO) < amount for agent in agents)
    ]
    if demand.devices and all(_whole_free(a, demand) < demand.devices for a in agents):
        lacking.append(f"{CUDA_DEVICE} ({demand.model})" if demand.model else CUDA_DEVICE)
    if demand.shares and all(a.shares_free < demand.shares for a in agents):
        lacking.append(CUDA_SHARES)
    if lacking:
        return f"not enough {', '.join(sorted(lacking))} on {where}"
    who = "no agent has" if where == "any agent" else f"none of {where} has"
    return f"{who} enough {', '.join(sorted(demand.requested))} at the same time"


class AgentPool:
    """The pass's working copy of all schedulable agents, indexed by scaling group."""

    def __init__(self, agents: Iterable[AgentState]) -> None:
        """Raises ValueError if two agents share an id."""
        by_group: dict[str, list[AgentState]] = {}
        seen: set[str] = set()
        capacity = ResourceSlots()
        for agent in agents:
            if agent.id in seen:
                raise ValueError(f"duplicate agent id {agent.id!r}")
            seen.add(agent.id)
            if agent.schedulable:
                by_group.setdefault(agent.scaling_group, []).append(agent)
                capacity = capacity + agent.capacity()
        self._groups = {name: _Group(states) for name, states in by_group.items()}
        self._capacity = capacity

    def has_agents(self, scaling_group: str) -> bool:
        return scaling_group in self._groups

    def total_capacity(self) -> ResourceSlots:
        return self._capacity

    def place(self, session: PendingSession) -> Assignment | str:
        """Reserve room for ``session`` on the best-fitting agent of its scaling group.

        Returns the assignment (its slots and devices are taken from the working copy at
        once), or the reason it fits nowhere (nothing is taken).
        """
        group = self._groups.get(session.scaling_group)
        if group is None:
            return f"no schedulable agent in scaling group {session.scaling_group!r}"
        demand = group.demand(session.requested, session.device_model)
        reason = group.known_failure(demand)  # what fits nowhere fits on no subset either
        if reason is not None:
            return reason
        if session.agent_ids:
            pinned = session.agent_ids & {a.id for a in group.agents}
            if not pinned:
                names = ", ".join(sorted(session.agent_ids))
                return (
                    f"none of the assigned agents ({names}) is schedulable in scaling group "
                    f"{session.scaling_group!r}"
                )
            agent = None if demand.unknown else group.find_among(demand, pinned)
            if agent is None:  # not remembered: other agents may still have room
                chosen = [a for a in group.agents if a.id in pinned]
                return _shortage(chosen, demand, "the assigned agents")
        else:
            agent = None if demand.unknown else group.find(demand)
            if agent is None:
                return group.remember_failure(demand)
        devices = group.reserve(agent, demand)
        return Assignment(
            session.id,
            session.usage_key,
            agent.id,
            session.scaling_group,
            demand.requested,
            devices,
        )
