"""Endpoint hints between two server processes (two relaying buses joined in memory, as
PostgreSQL's LISTEN/NOTIFY joins them): worker changes, demand, load, suspects and owners'
changes of one process reach the other's signals at once, and a process applies its own
hints once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from hangar.core.clock import FakeClock
from hangar.core.endpoints.hints import LOAD_REFRESH, LOAD_TTL, WAKE_EVERY, HintRelay
from hangar.core.endpoints.models import WorkerChange, WorkerStatus
from hangar.core.endpoints.signals import Signals
from hangar.core.events import EventKind, Matcher
from hangar.core.events.relay import RelayBus

EP = 7


class Wire:
    """Channels of several processes joined in memory; a sender never hears itself."""

    def __init__(self) -> None:
        self.ends: list[End] = []


class End:
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.receive: Callable[[str], None] | None = None
        wire.ends.append(self)

    async def open(self, receive: Callable[[str], None]) -> None:
        self.receive = receive

    def send(self, message: str) -> None:
        for end in self.wire.ends:
            if end is not self and end.receive is not None:
                end.receive(message)

    async def close(self) -> None:
        self.receive = None


@dataclass
class Process:
    bus: RelayBus
    signals: Signals
    relay: HintRelay


@pytest.fixture
async def two() -> AsyncIterator[tuple[Process, Process, FakeClock]]:
    wire, clock = Wire(), FakeClock()
    processes = []
    for name in ("a", "b"):
        bus = RelayBus(End(wire))
        await bus.open()
        relay = HintRelay(bus, clock, name)
        processes.append(Process(bus, Signals(clock, relay), relay))
    tasks = [asyncio.create_task(p.signals.follow()) for p in processes]
    await asyncio.sleep(0)  # both subscribed
    yield processes[0], processes[1], clock
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_worker_running_on_a_reaches_b_at_once(
    two: tuple[Process, Process, FakeClock],
) -> None:
    a, b, _ = two
    running = b.signals.running_event(EP)
    async with b.signals.subscribe() as on_b, a.signals.subscribe() as on_a:
        a.signals.publish(WorkerChange(EP, 3, WorkerStatus.RUNNING))
        a.signals.publish(WorkerChange(EP, 2, WorkerStatus.FAILED, "its session ended"))
        await settle()
        assert running.is_set()  # a gateway waiting on B for a worker stops waiting
        assert [on_b.get_nowait(), on_b.get_nowait()] == [
            WorkerChange(EP, 3, WorkerStatus.RUNNING),
            WorkerChange(EP, 2, WorkerStatus.FAILED, "its session ended"),
        ]
        assert on_a.qsize() == 2  # A's own changes once, not again from the relay
        assert on_b.empty()


async def test_demand_on_b_wakes_the_loop_on_a(two: tuple[Process, Process, FakeClock]) -> None:
    a, b, clock = two
    await a.signals.wait(0)  # nothing pending
    b.signals.wake(EP)
    await settle()
    assert a.signals.load(EP).woken_at == clock.now()
    await asyncio.wait_for(a.signals.wait(5), 1)  # poked: returns at once

    async with a.bus.subscribe(Matcher(frozenset({EventKind.ENDPOINT_WOKEN}))) as sent:
        a.signals.wake(EP)
        a.signals.wake(EP)  # within WAKE_EVERY: one hint leaves
        clock.advance(WAKE_EVERY)
        a.signals.wake(EP)
        assert len(sent.drain()) == 2


async def test_owner_changes_and_suspects_poke_the_other_loop(
    two: tuple[Process, Process, FakeClock],
) -> None:
    a, b, _ = two
    await a.signals.wait(0)
    b.signals.changed(EP)
    await settle()
    await asyncio.wait_for(a.signals.wait(5), 1)
    b.signals.suspect(11, EP)
    await settle()
    assert a.signals.take_suspects() == {11}
    assert b.signals.take_suspects() == {11}  # and its own loop, if it holds the endpoint


async def test_load_adds_requests_of_both_and_counts_queued_tasks_once(
    two: tuple[Process, Process, FakeClock],
) -> None:
    a, b, clock = two
    a.signals.note_load(EP, 4, 2)
    b.signals.note_load(EP, 4, 3)  # from zero: sent at once
    await settle()
    assert a.signals.load(EP).total == 4 + 2 + 3  # one queue in the database, two gateways
    assert b.signals.load(EP).total == 4 + 3 + 2

    b.signals.note_load(EP, 4, 5)  # coalesced: leaves with the next flush
    await settle()
    assert a.signals.load(EP).total == 4 + 2 + 3
    b.relay._flush()
    await settle()
    assert a.signals.load(EP).total == 4 + 2 + 5

    b.signals.note_load(EP, 0, 0)  # back to zero: with the next flush too
    b.relay._flush()
    await settle()
    assert a.signals.load(EP).total == 4 + 2

    b.signals.note_load(EP, 0, 1)
    await settle()
    clock.advance(LOAD_REFRESH)
    b.relay._flush()  # a load that stays is told again
    await settle()
    clock.advance(LOAD_TTL.total_seconds() - 1)
    assert a.signals.load(EP).total == 4 + 2 + 1
    clock.advance(2)  # B stopped telling (gone): its requests no longer count
    assert a.signals.load(EP).total == 4 + 2


async def test_without_a_relay_nothing_is_sent() -> None:
    signals = Signals(FakeClock())
    signals.note_load(EP, 1, 1)
    signals.wake(EP)
    signals.changed(EP)
    await asyncio.wait_for(signals.follow(), 1)  # returns at once
    assert signals.load(EP).total == 2


async def test_a_busy_gateway_sends_few_load_hints(two: tuple[Process, Process, FakeClock]) -> None:
    a, _, _ = two
    async with a.bus.subscribe(Matcher(frozenset({EventKind.ENDPOINT_LOAD}))) as sent:
        for _ in range(100):  # requests one after another: in flight 1, 0, 1, 0, ...
            a.signals.note_load(EP, None, 1)
            a.signals.note_load(EP, None, 0)
        assert len(sent.drain()) == 1  # the first; the rest leaves with the next flush
        a.relay._flush()
        assert [e.payload.in_flight for e in sent.drain()] == [0]  # type: ignore[union-attr]
