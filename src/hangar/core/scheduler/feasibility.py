"""Whether a request could ever be placed: compared with the capacity of whole agents, not
with what is free now (busy capacity queues; missing capacity is refused at creation).
Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from hangar.core.scheduler.model import AgentState
from hangar.core.scheduler.slots import BYTE_SLOTS, CUDA_DEVICE, CUDA_SHARES, ZERO, ResourceSlots

_GIB = Decimal(1 << 30)
_MIB = Decimal(1 << 20)
_ALIASES = {"gpu": "GPUs are requested as cuda.device (whole) or cuda.shares (fractional)"}


def never_fits(requested: ResourceSlots, agents: Sequence[AgentState], where: str) -> str | None:
    """Why no agent of ``agents`` could ever hold ``requested``, even idle; None when one
    could, or when there is no agent to judge by (one may join or come back later).

    ``where`` names the agents in the message, e.g. ``scaling group 'default'``.
    """
    wanted = requested.nonzero()
    if not agents or not wanted:
        return None
    capacities = [(agent.id, agent.capacity()) for agent in agents]
    if any(wanted <= capacity for _, capacity in capacities):
        return None
    lacking = [
        slot for slot in wanted if all(cap.amount(slot) < wanted[slot] for _, cap in capacities)
    ]
    slot = (lacking or sorted(wanted))[0]
    best_id, best = max(capacities, key=lambda c: (c[1].amount(slot), _size(c[1]), c[0]))
    largest = f"the largest agent, {best_id}, has {describe(best)}"
    hint = f"; {_ALIASES[slot]}" if slot in _ALIASES and slot in lacking else ""
    if not lacking:
        together = " and ".join(f"{s}={human_amount(s, wanted[s])}" for s in sorted(wanted))
        return f"No single agent of {where} has {together} together ({largest})"
    if all(cap.amount(slot) == ZERO for _, cap in capacities):
        return f"No agent of {where} has resource slot {slot!r} ({largest}{hint})"
    asked = ", ".join(f"{s}={human_amount(s, wanted[s])}" for s in lacking)
    return f"No agent of {where} can ever hold {asked} ({largest})"


def _size(capacity: ResourceSlots) -> int:
    return sum(1 for amount in capacity.values() if amount > 0)


def describe(slots: ResourceSlots) -> str:
    """``cpu=2, mem=23.5 GiB, cuda.device=1``: the nonzero slots, sizes in MiB/GiB."""
    items = sorted(slots.nonzero().items(), key=lambda item: (_ORDER.get(item[0], 9), item[0]))
    return ", ".join(f"{name}={human_amount(name, amount)}" for name, amount in items) or "nothing"


_ORDER = {"cpu": 0, "mem": 1, CUDA_DEVICE: 2, CUDA_SHARES: 3}


def human_amount(name: str, amount: Decimal) -> str:
    """A slot amount for people: bytes as ``256 MiB`` or ``1.5 GiB``, others as numbers."""
    if name not in BYTE_SLOTS:
        return _number(amount)
    if amount >= _MIB:  # floats: rounding a huge Decimal would overflow its context
        unit, size = ("GiB", _GIB) if amount >= _GIB else ("MiB", _MIB)
        return f"{float(amount) / float(size):.1f}".removesuffix(".0") + f" {unit}"
    return f"{_number(amount)} bytes"


def _number(amount: Decimal) -> str:
    if amount == amount.to_integral_value():
        return str(int(amount))
    return format(amount.normalize(), "f")
